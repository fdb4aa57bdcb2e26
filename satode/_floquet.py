"""Monodromy matrices and Floquet spectra of periodic orbits."""

from typing import Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

from ._flow import FlowOptions, integrate, variational_flow
from ._periodic_orbit import PeriodicOrbit
from ._results import nan_unless, RESULTS


# A multiplier below this fraction of the largest is beyond what eig(M) resolves in float64
# (M's entries carry ~1e-16 relative error, amplified by the orbit's conditioning).
_EIG_RESOLUTION = 1e-13


class Monodromy(eqx.Module):
    """`M = Φ(T)` of `Φ' = Df(γ(t)) Φ, Φ(0) = I`, with the Liouville integral `∫_0^T tr Df dt`."""

    matrix: Float[Array, "d d"]
    trace_integral: Float[Array, ""]
    end: Float[Array, " d"]
    result: RESULTS


def monodromy(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    method: Literal["variational", "forward"] = "variational",
    options: FlowOptions = FlowOptions(),
) -> Monodromy:
    """The monodromy matrix of a periodic orbit.

    **Arguments:**

    - `vector_field`, `args`: the field `f(t, y, args)` the orbit belongs to.
    - `orbit`: a `PeriodicOrbit`.
    - `method`: `"variational"` integrates `(y, Φ, ∫tr Df)` together under error control;
        `"forward"` differentiates the flow map with forward-mode AD through the solver.
    - `options`: `FlowOptions`.

    **Returns:** a `Monodromy` (also `end = φ_T(y0)`, for the closure check).
    """
    y0, period = orbit.y0, jnp.where(jnp.isfinite(orbit.period), orbit.period, 0.0)
    y0 = jnp.where(jnp.isfinite(y0), y0, 0.0)
    if method == "variational":
        sol = variational_flow(vector_field, y0, period, args, options=options)
        end, matrix, trace = sol.ys[0][-1], sol.ys[1][-1], sol.ys[2][-1]
    elif method == "forward":
        forward = eqx.tree_at(lambda o: o.adjoint, options, dfx.ForwardMode())

        def flow_map(y):
            return integrate(vector_field, y, period, args, options=forward).ys[-1]

        matrix = jax.jacfwd(flow_map)(y0)

        def with_trace(t, state, args):
            y, _ = state
            return vector_field(t, y, args), jnp.trace(
                jax.jacfwd(lambda z: vector_field(t, z, args))(y)
            )

        sol = integrate(with_trace, (y0, jnp.zeros((), y0.dtype)), period, args, options=options)
        end, trace = sol.ys[0][-1], sol.ys[1][-1]
    else:
        raise ValueError(f"monodromy: method must be 'variational' or 'forward', got {method!r}")
    result = RESULTS.where(
        sol.result == dfx.RESULTS.max_steps_reached, RESULTS.max_steps, orbit.result
    )
    return Monodromy(matrix, trace, end, result)


class FloquetSpectrum(eqx.Module):
    """The Floquet spectrum of a periodic orbit, with its accuracy checks.

    **Fields:**

    - `multipliers`: eigenvalues of `M`, sorted by modulus, largest first (complex).
    - `exponents`: `ln|μ_i| / T`, sorted descending; the trivial one is reported as exactly 0.
    - `trivial_index`: position of the trivial multiplier (eigenvector ∥ `f(y0)`) in
        `multipliers`.
    - `trivial_multiplier_error`: `|μ_triv − 1|`: consistency of orbit and monodromy.
    - `liouville_residual`: `|Σ ln|μ_i| − ∫_0^T tr Df dt|` over the multipliers `eig` resolves
        (all of them when none is below `1e-13·|μ_max|`): accuracy of `M`.
    - `trace_integral`: `∫_0^T tr Df(γ(t)) dt = ln|det M|` (Liouville).
    - `eig_gap`: in 2-D, `|λ_eig − λ_liouville|` for the non-trivial exponent when `eig`
        resolves it (else NaN): the cross-check of the two methods.
    - `period`, `result`.
    - `method`: `"liouville"` (2-D: the non-trivial exponent is `∫ tr Df dt / T`, exact and
        immune to underflow) or `"eig"` (exponents from `eig(M)`).
    """

    multipliers: Complex[Array, " d"]
    exponents: Float[Array, " d"]
    trivial_index: Int[Array, ""]
    trivial_multiplier_error: Float[Array, ""]
    liouville_residual: Float[Array, ""]
    trace_integral: Float[Array, ""]
    eig_gap: Float[Array, ""]
    period: Float[Array, ""]
    result: RESULTS
    method: str = eqx.field(static=True)


def floquet(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    method: Literal["variational", "forward"] = "variational",
    options: FlowOptions = FlowOptions(),
    throw: bool = True,
) -> FloquetSpectrum:
    """Floquet multipliers and exponents of a periodic orbit.

    The trivial multiplier is the one whose eigenvector is most nearly parallel to `f(y0)`. In
    2-D the non-trivial exponent is taken from the Liouville identity
    `ln μ_2 = ∫_0^T tr Df dt` (exact, and it keeps multipliers far below machine precision,
    e.g. FitzHugh–Nagumo's 2.3e-17); `eig(M)` is the cross-check (`eig_gap`).

    **Arguments:** as `monodromy`, plus `throw` (raise if `result` is not successful).

    **Returns:** a `FloquetSpectrum`.
    """
    mono = monodromy(vector_field, orbit, args, method=method, options=options)
    period = orbit.period
    d = mono.matrix.shape[0]
    values, vectors = jnp.linalg.eig(mono.matrix)
    f0 = vector_field(0.0, jnp.where(jnp.isfinite(orbit.y0), orbit.y0, 0.0), args)
    f0 = f0 / jnp.linalg.norm(f0)
    alignment = jnp.abs(vectors.conj().T @ f0.astype(vectors.dtype)) / jnp.linalg.norm(
        vectors, axis=0
    )
    trivial = jnp.argmax(alignment)
    moduli = jnp.abs(values)
    resolved = moduli > _EIG_RESOLUTION * jnp.max(moduli)
    log_moduli = jnp.log(jnp.where(resolved, moduli, 1.0))
    liouville_residual = jnp.where(
        jnp.all(resolved), jnp.abs(jnp.sum(log_moduli) - mono.trace_integral), jnp.nan
    )
    trivial_error = jnp.abs(values[trivial] - 1)
    eig_exponents = jnp.where(resolved, log_moduli / period, -jnp.inf)
    eig_exponents = eig_exponents.at[trivial].set(0.0)
    if d == 2:
        other = 1 - trivial
        liouville = mono.trace_integral / period
        eig_gap = jnp.where(resolved[other], jnp.abs(eig_exponents[other] - liouville), jnp.nan)
        values = values.at[other].set(jnp.exp(mono.trace_integral).astype(values.dtype))
        exponents = eig_exponents.at[other].set(liouville)
        method_name = "liouville"
    else:
        eig_gap = jnp.asarray(jnp.nan, period.dtype)
        exponents = eig_exponents
        method_name = "eig"
    order = jnp.argsort(-jnp.abs(values))
    found = orbit.result == RESULTS.successful
    spectrum = FloquetSpectrum(
        multipliers=values[order],
        exponents=-jnp.sort(-exponents),
        trivial_index=jnp.argmax(order == trivial),
        trivial_multiplier_error=trivial_error,
        liouville_residual=liouville_residual,
        trace_integral=mono.trace_integral,
        eig_gap=eig_gap,
        period=period,
        result=mono.result,
        method=method_name,
    )
    spectrum = nan_unless(found, spectrum)
    if throw:
        spectrum = eqx.error_if(
            spectrum, spectrum.result != RESULTS.successful, "Floquet spectrum failed"
        )
    return spectrum
