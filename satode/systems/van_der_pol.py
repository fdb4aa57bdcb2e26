"""The Van der Pol oscillator."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


class VanDerPol(AbstractSystem):
    r"""The Van der Pol oscillator, as a first-order system.

    $$x' = y, \qquad y' = \mu (1 - x^2) y - x.$$

    **Arguments:**

    - `mu`: the nonlinear damping (relaxation oscillations for large `mu`).
    """

    mu: Float[Array, ""] = eqx.field(converter=as_param, default=1.0)

    name: ClassVar[str] = "van-der-pol"
    param_names: ClassVar[tuple[str, ...]] = ("mu",)
    dim: ClassVar[int] = 2
    default_y0: ClassVar[tuple[float, ...]] = (2.0, 0.0)
    time_scale: ClassVar[float] = 7.0

    def __call__(self, t, y: Float[Array, " 2"], args=None) -> Float[Array, " 2"]:
        x, v = y[0], y[1]
        return jnp.stack([v, self.mu * (1 - x**2) * v - x]).astype(y.dtype)
