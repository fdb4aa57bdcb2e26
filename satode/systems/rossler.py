"""The Rössler system."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


class Rossler(AbstractSystem):
    r"""The Rössler system.

    $$x' = -y - z, \qquad y' = x + a y, \qquad z' = b + z (x - c).$$

    Presets: `period1` ($c = 2.5$, a period-1 cycle; the default) and `chaotic` ($c = 5.7$).

    **Arguments:**

    - `a`, `b`, `c`: the usual Rössler parameters.
    """

    a: Float[Array, ""] = eqx.field(converter=as_param, default=0.2)
    b: Float[Array, ""] = eqx.field(converter=as_param, default=0.2)
    c: Float[Array, ""] = eqx.field(converter=as_param, default=2.5)

    name: ClassVar[str] = "rossler"
    param_names: ClassVar[tuple[str, ...]] = ("a", "b", "c")
    dim: ClassVar[int] = 3
    default_y0: ClassVar[tuple[float, ...]] = (1.0, 1.0, 0.0)
    presets: ClassVar[dict[str, dict[str, float]]] = {
        "period1": {"a": 0.2, "b": 0.2, "c": 2.5},
        "chaotic": {"a": 0.2, "b": 0.2, "c": 5.7},
    }
    default_preset: ClassVar[str | None] = "period1"
    time_scale: ClassVar[float] = 6.0

    def __call__(self, t, y: Float[Array, " 3"], args=None) -> Float[Array, " 3"]:
        x, v, z = y[0], y[1], y[2]
        dx = -v - z
        dv = x + self.a * v
        dz = self.b + z * (x - self.c)
        return jnp.stack([dx, dv, dz]).astype(y.dtype)
