"""The Morris–Lecar model of a barnacle muscle fibre."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


_HOPF = dict(
    C=20.0,
    g_L=2.0,
    g_Ca=4.4,
    g_K=8.0,
    V_L=-60.0,
    V_Ca=120.0,
    V_K=-84.0,
    V1=-1.2,
    V2=18.0,
    V3=2.0,
    V4=30.0,
    phi=0.04,
    current=90.0,
)
_SNIC = {**_HOPF, "g_Ca": 4.0, "V3": 12.0, "V4": 17.4, "phi": 1 / 15, "current": 40.0}


class MorrisLecar(AbstractSystem):
    r"""The Morris–Lecar model (voltages in mV, time in ms).

    $$C V' = I - g_L (V - V_L) - g_{Ca} m_\infty(V) (V - V_{Ca}) - g_K w (V - V_K),$$
    $$w' = \varphi (w_\infty(V) - w) / \tau_w(V),$$

    with $m_\infty = \tfrac12 (1 + \tanh((V - V_1)/V_2))$,
    $w_\infty = \tfrac12 (1 + \tanh((V - V_3)/V_4))$ and
    $\tau_w = 1 / \cosh((V - V_3) / (2 V_4))$.

    Presets: `hopf` (the default; bistable at $I = 90$, its cycle reached from $(20, 0)$) and
    `snic` (just above the saddle-node on invariant circle at $I = 40$).

    **Arguments:**

    - `C`: the membrane capacitance.
    - `g_L`, `g_Ca`, `g_K`: the leak, calcium and potassium conductances.
    - `V_L`, `V_Ca`, `V_K`: the reversal potentials.
    - `V1`, `V2`: the calcium activation's midpoint and slope.
    - `V3`, `V4`: the potassium activation's midpoint and slope.
    - `phi`: the potassium rate factor $\varphi$.
    - `current`: the applied current $I$.
    """

    C: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["C"])
    g_L: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["g_L"])
    g_Ca: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["g_Ca"])
    g_K: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["g_K"])
    V_L: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V_L"])
    V_Ca: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V_Ca"])
    V_K: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V_K"])
    V1: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V1"])
    V2: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V2"])
    V3: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V3"])
    V4: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["V4"])
    phi: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["phi"])
    current: Float[Array, ""] = eqx.field(converter=as_param, default=_HOPF["current"])

    name: ClassVar[str] = "morris-lecar"
    param_names: ClassVar[tuple[str, ...]] = tuple(_HOPF)
    dim: ClassVar[int] = 2
    default_y0: ClassVar[tuple[float, ...]] = (20.0, 0.0)
    presets: ClassVar[dict[str, dict[str, float]]] = {"hopf": _HOPF, "snic": _SNIC}
    default_preset: ClassVar[str | None] = "hopf"
    time_scale: ClassVar[float] = 100.0

    def __call__(self, t, y: Float[Array, " 2"], args=None) -> Float[Array, " 2"]:
        V, w = y[0], y[1]
        m_inf = 0.5 * (1 + jnp.tanh((V - self.V1) / self.V2))
        w_inf = 0.5 * (1 + jnp.tanh((V - self.V3) / self.V4))
        inv_tau_w = jnp.cosh((V - self.V3) / (2 * self.V4))
        i_ion = (
            self.g_L * (V - self.V_L)
            + self.g_Ca * m_inf * (V - self.V_Ca)
            + self.g_K * w * (V - self.V_K)
        )
        dV = (self.current - i_ion) / self.C
        dw = self.phi * (w_inf - w) * inv_tau_w
        return jnp.stack([dV, dw]).astype(y.dtype)
