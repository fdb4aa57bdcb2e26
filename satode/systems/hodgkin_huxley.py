"""The Hodgkin–Huxley model of the squid giant axon."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractSystem, as_param


# The standard squid-axon constants, modern convention (rest ≈ −65 mV; mV, ms, µA/cm², mS/cm²).
C_M = 1.0
G_NA, G_K, G_L = 120.0, 36.0, 0.3
E_NA, E_K, E_L = 50.0, -77.0, -54.387

# Taylor coefficients of x / (1 − e^{−x}) = Σ_k B_k (−x)^k / k! (Bernoulli numbers).
_SERIES = (1.0, 1 / 2, 1 / 12, 0.0, -1 / 720, 0.0, 1 / 30240, 0.0, -1 / 1209600, 0.0, 1 / 47900160)
# Below |x| = 0.1 the series (next term ~5e-22) replaces x / (1 − e^{−x}), whose derivative loses
# ~2 eps / |x| relative accuracy to cancellation: both branches are exact to ~1e-15 in float64.
_SERIES_RADIUS = 0.1


def _x_over_one_minus_exp(x: Array) -> Array:
    """`x / (1 − exp(−x))`, with its removable singularity at 0 (value and derivatives) handled."""
    small = jnp.abs(x) < _SERIES_RADIUS
    # The double-where trick: the unused branch never sees x = 0, so its gradient is not NaN.
    safe_x = jnp.where(small, 1.0, x)
    direct = safe_x / -jnp.expm1(-safe_x)
    series = _SERIES[-1]
    for c in reversed(_SERIES[:-1]):
        series = series * x + c
    return jnp.where(small, series, direct)


def _rates(V: Array) -> tuple[Array, Array, Array, Array, Array, Array]:
    """The gating rates `(α_m, β_m, α_h, β_h, α_n, β_n)` in 1/ms at membrane voltage `V`."""
    # α_m = 0.1 (V + 40) / (1 − e^{−(V+40)/10}), α_n = 0.01 (V + 55) / (1 − e^{−(V+55)/10}).
    alpha_m = _x_over_one_minus_exp((V + 40) / 10)
    beta_m = 4 * jnp.exp(-(V + 65) / 18)
    alpha_h = 0.07 * jnp.exp(-(V + 65) / 20)
    beta_h = 1 / (1 + jnp.exp(-(V + 35) / 10))
    alpha_n = 0.1 * _x_over_one_minus_exp((V + 55) / 10)
    beta_n = 0.125 * jnp.exp(-(V + 65) / 80)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


class HodgkinHuxley(AbstractSystem):
    r"""The Hodgkin–Huxley model (standard squid axon, rest ≈ −65 mV; mV and ms).

    $$C_m V' = I - g_{Na} m^3 h (V - E_{Na}) - g_K n^4 (V - E_K) - g_L (V - E_L),$$
    $$x' = \alpha_x(V) (1 - x) - \beta_x(V) x, \qquad x \in \{m, h, n\},$$

    with $C_m = 1$, $g_{Na} = 120$, $g_K = 36$, $g_L = 0.3$, $E_{Na} = 50$, $E_K = -77$,
    $E_L = -54.387$ and

    $$\alpha_n = \frac{0.01 (V + 55)}{1 - e^{-(V + 55)/10}}, \quad
    \beta_n = 0.125 e^{-(V + 65)/80}, \quad
    \alpha_m = \frac{0.1 (V + 40)}{1 - e^{-(V + 40)/10}}, \quad
    \beta_m = 4 e^{-(V + 65)/18},$$
    $$\alpha_h = 0.07 e^{-(V + 65)/20}, \quad \beta_h = \frac{1}{1 + e^{-(V + 35)/10}}.$$

    The removable singularities of $\alpha_n$ at $V = -55$ and $\alpha_m$ at $V = -40$ are
    evaluated by a series, so values and derivatives are finite and accurate there. The state is
    $(V, m, h, n)$.

    **Arguments:**

    - `current`: the applied current $I$ in µA/cm² (the default, 10, spikes periodically).
    """

    current: Float[Array, ""] = eqx.field(converter=as_param, default=10.0)

    name: ClassVar[str] = "hodgkin-huxley"
    param_names: ClassVar[tuple[str, ...]] = ("current",)
    dim: ClassVar[int] = 4
    default_y0: ClassVar[tuple[float, ...]] = (-65.0, 0.05, 0.6, 0.32)
    time_scale: ClassVar[float] = 15.0

    def __call__(self, t, y: Float[Array, " 4"], args=None) -> Float[Array, " 4"]:
        V, m, h, n = y[0], y[1], y[2], y[3]
        alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n = _rates(V)
        i_ion = G_NA * m**3 * h * (V - E_NA) + G_K * n**4 * (V - E_K) + G_L * (V - E_L)
        dV = (self.current - i_ion) / C_M
        dm = alpha_m * (1 - m) - beta_m * m
        dh = alpha_h * (1 - h) - beta_h * h
        dn = alpha_n * (1 - n) - beta_n * n
        return jnp.stack([dV, dm, dh, dn]).astype(y.dtype)
