"""The Lorenz system."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


class Lorenz(AbstractSystem):
    r"""The Lorenz system (chaotic at the classical parameters).

    $$x' = \sigma (y - x), \qquad y' = x (\rho - z) - y, \qquad z' = x y - \beta z.$$

    Its divergence is the constant $-(\sigma + 1 + \beta)$.

    **Arguments:**

    - `sigma`: the Prandtl number $\sigma$.
    - `rho`: the Rayleigh number $\rho$.
    - `beta`: the geometric factor $\beta$.
    """

    sigma: Float[Array, ""] = eqx.field(converter=as_param, default=10.0)
    rho: Float[Array, ""] = eqx.field(converter=as_param, default=28.0)
    beta: Float[Array, ""] = eqx.field(converter=as_param, default=8 / 3)

    name: ClassVar[str] = "lorenz"
    param_names: ClassVar[tuple[str, ...]] = ("sigma", "rho", "beta")
    dim: ClassVar[int] = 3
    default_y0: ClassVar[tuple[float, ...]] = (1.0, 1.0, 1.0)
    time_scale: ClassVar[float] = 1.0

    def __call__(self, t, y: Float[Array, " 3"], args=None) -> Float[Array, " 3"]:
        x, v, z = y[0], y[1], y[2]
        dx = self.sigma * (v - x)
        dv = x * (self.rho - z) - v
        dz = x * v - self.beta * z
        return jnp.stack([dx, dv, dz]).astype(y.dtype)
