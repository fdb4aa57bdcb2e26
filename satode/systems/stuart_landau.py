"""The Stuart–Landau oscillator: the normal form of a supercritical Hopf bifurcation."""

import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


class StuartLandau(AbstractSystem):
    r"""The Stuart–Landau oscillator, in real coordinates $z = x + iy$.

    $$z' = (\mu + i\omega) z - (1 + i\beta) |z|^2 z.$$

    For $\mu > 0$ the cycle is the circle $|z| = \sqrt{\mu}$ with period
    $2\pi / |\omega - \beta\mu|$ and Floquet exponents $\{0, -2\mu\}$.

    **Arguments:**

    - `mu`: the growth rate (the squared cycle radius).
    - `omega`: the linear frequency.
    - `beta`: the shear (amplitude-dependent frequency).
    """

    mu: Float[Array, ""] = eqx.field(converter=as_param, default=1.0)
    omega: Float[Array, ""] = eqx.field(converter=as_param, default=1.0)
    beta: Float[Array, ""] = eqx.field(converter=as_param, default=0.0)

    name: ClassVar[str] = "stuart-landau"
    param_names: ClassVar[tuple[str, ...]] = ("mu", "omega", "beta")
    dim: ClassVar[int] = 2
    default_y0: ClassVar[tuple[float, ...]] = (0.3, 0.1)
    time_scale: ClassVar[float] = 2 * math.pi

    def __call__(self, t, y: Float[Array, " 2"], args=None) -> Float[Array, " 2"]:
        x, v = y[0], y[1]
        r2 = x**2 + v**2
        dx = self.mu * x - self.omega * v - r2 * (x - self.beta * v)
        dv = self.omega * x + self.mu * v - r2 * (v + self.beta * x)
        return jnp.stack([dx, dv]).astype(y.dtype)
