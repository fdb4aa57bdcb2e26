"""The prescribed-curve mode: the paper's method of integrating along a given closed curve.

The paper integrates the variational equation along the unit circle `γ(t) = (cos t, sin t)`, the
Stuart–Landau cycle. For a scaled network that circle is not an orbit, so the "multipliers" are
not Floquet multipliers of anything; satode keeps this mode to reproduce the paper's numbers
side by side with the network's own orbit.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ._flow import field_and_jacobian, FlowOptions, integrate


# Along the paper's prescribed curve, as its scripts do: a multiplier below this fraction of
# the largest is beyond what eig resolves, and its modulus comes from the Liouville integral.
_EIG_RESOLUTION = 1e-13


class CurveSpectrum(eqx.Module):
    """`Φ(2π)` of `Φ' = Df(γ(t)) Φ` along `γ(t) = R (cos t, sin t)`, `t ∈ [0, 2π]`.

    **Fields:** `multipliers` (eigenvalues, largest modulus first), `exponents` (`ln|μ|/2π`,
    descending), `trace_integral` (`∫ tr Df(γ) dt`), `liouville_residual`
    (`|ln|det Φ| − ∫ tr Df dt|`), `period` (2π), `radius`.
    """

    multipliers: Complex[Array, " 2"]
    exponents: Float[Array, " 2"]
    trace_integral: Float[Array, ""]
    liouville_residual: Float[Array, ""]
    period: Float[Array, ""]
    radius: Float[Array, ""]


def circle(radius, n: int, dtype=None) -> Float[Array, "n 2"]:
    """`n` points `R (cos t, sin t)`, `t = 2πk/(n−1)`, `k = 0 … n−1` (closed: last = first)."""
    t = jnp.linspace(0.0, 2 * jnp.pi, n, dtype=dtype)
    return radius * jnp.stack([jnp.cos(t), jnp.sin(t)], axis=-1)


class _AlongCircle(eqx.Module):
    vector_field: eqx.Module
    radius: Array

    def __call__(self, t, state, args):
        phi, _ = state
        y = self.radius * jnp.stack([jnp.cos(t), jnp.sin(t)])
        _, jac = field_and_jacobian(self.vector_field, t, y.astype(phi.dtype), args)
        return jac @ phi, jnp.trace(jac)


def circle_spectrum(
    vector_field, radius=1.0, args=None, *, options: FlowOptions = FlowOptions()
) -> CurveSpectrum:
    """Integrate the variational equation along the circle of `radius` (the paper's method).

    **Arguments:** a planar `vector_field(t, y, args)`, the circle's `radius`, `args`, `options`.

    **Returns:** a `CurveSpectrum`.
    """
    dtype = jnp.result_type(float)
    radius = jnp.asarray(radius, dtype)
    period = jnp.asarray(2 * jnp.pi, dtype)
    state0 = (jnp.eye(2, dtype=dtype), jnp.zeros((), dtype))
    sol = integrate(_AlongCircle(vector_field, radius), state0, period, args, options=options)
    matrix, trace = sol.ys[0][-1], sol.ys[1][-1]
    values = jnp.linalg.eigvals(matrix)
    values = values[jnp.argsort(-jnp.abs(values))]
    _, logdet = jnp.linalg.slogdet(matrix)
    # Below ~1e-13 of the largest, eig's second multiplier is noise (or 0): take its modulus
    # from Liouville, |μ1 μ2| = exp ∫ tr Df dt, which holds along any curve.
    unresolved = jnp.abs(values[1]) <= _EIG_RESOLUTION * jnp.abs(values[0])
    repaired = jnp.exp(trace - jnp.log(jnp.abs(values[0]))).astype(values.dtype)
    values = values.at[1].set(jnp.where(unresolved, repaired, values[1]))
    return CurveSpectrum(
        multipliers=values,
        exponents=jnp.log(jnp.abs(values)) / period,
        trace_integral=trace,
        liouville_residual=jnp.abs(logdet - trace),
        period=period,
        radius=radius,
    )
