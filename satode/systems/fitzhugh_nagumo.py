"""The FitzHugh–Nagumo model of an excitable neuron."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


class FitzHughNagumo(AbstractSystem):
    r"""The FitzHugh–Nagumo model.

    $$v' = v - v^3/3 - w + I, \qquad w' = \varepsilon (v + a - b w).$$

    **Arguments:**

    - `a`, `b`: the recovery variable's offset and self-coupling.
    - `eps`: the time-scale separation $\varepsilon$.
    - `current`: the applied current $I$.
    """

    a: Float[Array, ""] = eqx.field(converter=as_param, default=0.7)
    b: Float[Array, ""] = eqx.field(converter=as_param, default=0.8)
    eps: Float[Array, ""] = eqx.field(converter=as_param, default=0.08)
    current: Float[Array, ""] = eqx.field(converter=as_param, default=0.5)

    name: ClassVar[str] = "fitzhugh-nagumo"
    param_names: ClassVar[tuple[str, ...]] = ("a", "b", "eps", "current")
    dim: ClassVar[int] = 2
    default_y0: ClassVar[tuple[float, ...]] = (0.0, 0.0)
    time_scale: ClassVar[float] = 40.0

    def __call__(self, t, y: Float[Array, " 2"], args=None) -> Float[Array, " 2"]:
        v, w = y[0], y[1]
        dv = v - v**3 / 3 - w + self.current
        dw = self.eps * (v + self.a - self.b * w)
        return jnp.stack([dv, dw]).astype(y.dtype)
