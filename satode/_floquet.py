"""Monodromy matrices and Floquet spectra of periodic orbits."""

from typing import Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ._flow import FlowOptions, integrate, OnUnitInterval, variational_flow
from ._periodic_orbit import PeriodicOrbit
from ._results import nan_unless, RESULTS


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
    - `n_eig`: how many of the leading exponents come from `eig(M)` (the trivial one included);
        the others come from the Liouville integral (2-D) or the periodic QR (`d > 2`).
    - `period`, `result`.
    - `method`: `"liouville"` (2-D: the non-trivial exponent is `∫ tr Df dt / T`, exact and
        immune to underflow) or `"eig+periodic-qr"` (`d > 2`: exponents from `eig(M)` where it
        resolves them, the rest from a periodic QR over segment monodromies).
    """

    multipliers: Complex[Array, " d"]
    exponents: Float[Array, " d"]
    trivial_index: Int[Array, ""]
    trivial_multiplier_error: Float[Array, ""]
    liouville_residual: Float[Array, ""]
    trace_integral: Float[Array, ""]
    eig_gap: Float[Array, ""]
    n_eig: Int[Array, ""]
    period: Float[Array, ""]
    result: RESULTS
    method: str = eqx.field(static=True)


def segment_monodromies(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    n_segments: int = 16,
    options: FlowOptions = FlowOptions(),
) -> Float[Array, "m d d"]:
    """The monodromies `Φ_j` of the orbit's `n_segments` equal time segments, each from `I`.

    Their product `Φ_m ⋯ Φ_1` is `M`, but each factor is well conditioned: a strongly
    contracting orbit whose `M` is rank-deficient in floating point keeps its small directions in
    the factors. The segments are integrated in parallel (`vmap`).
    """
    period = jnp.where(jnp.isfinite(orbit.period), orbit.period, 0.0)
    y0 = jnp.where(jnp.isfinite(orbit.y0), orbit.y0, 0.0)
    # On the unit interval: a failed orbit (T = 0) then costs one step under `vmap`.
    ts = np.linspace(0.0, 1.0, n_segments + 1, dtype=np.dtype(y0.dtype))[:-1]
    field = OnUnitInterval(vector_field, period)
    starts = integrate(field, y0, 1.0, args, options=options, saveat=dfx.SaveAt(ts=ts))

    def one(y):
        return variational_flow(vector_field, y, period / n_segments, args, options=options)

    return jax.vmap(one)(starts.ys).ys[1][:, -1]


def periodic_qr_log_moduli(segments: Float[Array, "m d d"], cycles: int = 8) -> Float[Array, " d"]:
    """`ln|μ_i|` of `M = Φ_m ⋯ Φ_1`, descending, without ever forming `M`.

    Orthogonal iteration through the factors (`Q ← qr(Φ_j Q)`), repeated over `cycles` periods:
    `Q` converges to the Schur vectors of `M` and the diagonal of the accumulated `R`s to the
    moduli, summed in log space (no underflow however small a multiplier). The log-moduli are
    averaged over the second half of the cycles; groups separated by a large gap (exactly the
    multipliers `eig` cannot resolve) converge within one cycle.
    """
    d = segments.shape[-1]

    def segment(q, phi):
        q, r = jnp.linalg.qr(phi @ q)
        return q, jnp.log(jnp.abs(jnp.diagonal(r)))

    def cycle(q, _):
        q, logs = jax.lax.scan(segment, q, segments)
        return q, jnp.sum(logs, axis=0)

    _, per_cycle = jax.lax.scan(cycle, jnp.eye(d, dtype=segments.dtype), None, length=cycles)
    return -jnp.sort(-jnp.mean(per_cycle[cycles // 2 :], axis=0))


def floquet(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    method: Literal["variational", "forward"] = "variational",
    options: FlowOptions = FlowOptions(),
    throw: bool = True,
    monodromy_matrix: Monodromy | None = None,
) -> FloquetSpectrum:
    """Floquet multipliers and exponents of a periodic orbit.

    The trivial multiplier is the one whose eigenvector is most nearly parallel to `f(y0)`; its
    exponent is reported as exactly 0. `eig(M)` loses multipliers below ~`1e-13·|μ_max|`
    (FitzHugh–Nagumo: 2.3e-17; Van der Pol μ = 10: ~1e-136), so:

    - in 2-D the non-trivial exponent is taken from the Liouville identity
        `ln μ_2 = ∫_0^T tr Df dt` (exact); `eig(M)` is the cross-check (`eig_gap`);
    - for `d > 2` the exponents `eig` resolves come from `eig`, the rest from a periodic QR over
        segment monodromies (`periodic_qr_log_moduli`); `eig_gap` compares the two methods on
        the resolved group, `liouville_residual` checks `Σ ln|μ_i|` against `∫ tr Df dt`.
        Multipliers below `eig`'s resolution are reported by modulus (`e^{λT}`, real).

    **Arguments:** as `monodromy`, plus `throw` (raise if `result` is not successful) and
    `monodromy_matrix`: a `Monodromy` already computed along `orbit` (e.g. by the last Newton
    solve of a sweep), used instead of integrating it again.

    **Returns:** a `FloquetSpectrum`.
    """
    if monodromy_matrix is None:
        mono = monodromy(vector_field, orbit, args, method=method, options=options)
    else:
        mono = monodromy_matrix
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
    # eig is backward stable: each multiplier comes with an absolute error of a few eps·‖M‖, so
    # its log is good to ~1e-5 (well below the Liouville check's 1e-4) only above 1e5·eps·‖M‖_F
    # (2e-11·‖M‖ in float64). ‖M‖, not the largest |μ|: a non-normal M (a stiff cycle, e.g. Van
    # der Pol μ = 2.6: |μ2| = 1e-12 with ‖M‖ ≈ 10) loses its small multiplier to rounding while
    # |μ2| / |μ1| still looks resolvable. Unresolved multipliers take their exponent from the
    # Liouville integral (2-D) or the periodic QR (higher dimension).
    dtype = mono.matrix.dtype
    resolution = 1e5 * float(jnp.finfo(dtype).eps)
    resolved = moduli > resolution * jnp.linalg.norm(mono.matrix)
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
        n_eig = jnp.asarray(1)
        method_name = "liouville"
    else:
        segments = segment_monodromies(vector_field, orbit, args, options=options)
        qr_logs = periodic_qr_log_moduli(segments)
        # The resolved multipliers are the largest: positions [0, n_eig) in descending order.
        n_eig = jnp.sum(resolved)
        leading = jnp.arange(d) < n_eig
        by_modulus = jnp.argsort(-moduli)
        eig_logs = jnp.where(resolved, jnp.log(jnp.where(resolved, moduli, 1.0)), 0.0)
        eig_gap = jnp.abs(jnp.sum(eig_logs) - jnp.sum(jnp.where(leading, qr_logs, 0.0))) / period
        values = jnp.where(leading, values[by_modulus], jnp.exp(qr_logs).astype(values.dtype))
        trivial = jnp.argmax(by_modulus == trivial)
        all_logs = jnp.where(leading, jnp.log(jnp.abs(values)), qr_logs)
        liouville_residual = jnp.abs(jnp.sum(all_logs) - mono.trace_integral)
        exponents = (all_logs / period).at[trivial].set(0.0)
        method_name = "eig+periodic-qr"
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
        n_eig=n_eig,
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
