"""Lyapunov spectra across saturation levels: one compiled, chunked `vmap`, a status per level."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._analysis import at_level
from ._bounds import SaturationAudit
from ._flow import FlowOptions
from ._lyapunov import lyapunov_audit, lyapunov_spectrum
from ._mlp import SaturatingMLP
from ._results import nan_unless, RESULTS


class TrajectoryAnalysis(eqx.Module):
    """The Lyapunov spectrum of one trajectory and, for MLPs, the bound audit along it.

    **Fields:**

    - `exponents`, `stderr`, `sum`: as in `LyapunovSpectrum`.
    - `final_state`: where the trajectory ended.
    - `audit`: the `SaturationAudit` over the sampled trajectory (`None` unless the field is a
        `SaturatingMLP`).
    - `result`: the spectrum's status, or `check_failed` when the bound order
        `|λ_i| ≤ C_emp ≤ C̃ ≤ C_theory` fails on a successful spectrum (a bug or too coarse a
        sampling, never a result).
    """

    exponents: Float[Array, " k"]
    stderr: Float[Array, " k"]
    sum: Float[Array, ""]
    final_state: Float[Array, " d"]
    audit: SaturationAudit | None
    result: RESULTS


def analyse_trajectory(
    vector_field,
    y0: Float[Array, " d"],
    args=None,
    *,
    t_total: float,
    renorm_interval: float = 1.0,
    transient: float = 0.0,
    k: int | None = None,
    n_batches: int = 10,
    samples_per_interval: int = 4,
    options: FlowOptions = FlowOptions(),
) -> TrajectoryAnalysis:
    """`lyapunov_spectrum` of the trajectory from `y0` plus, for MLPs, `lyapunov_audit` on it.

    **Arguments:** as `lyapunov_spectrum` (never throws; the status is in `result`).

    **Returns:** a `TrajectoryAnalysis`; under `vmap` each member carries its own `result`.
    """
    spectrum = lyapunov_spectrum(
        vector_field,
        y0,
        args,
        t_total=t_total,
        renorm_interval=renorm_interval,
        transient=transient,
        k=k,
        n_batches=n_batches,
        samples_per_interval=samples_per_interval,
        options=options,
        throw=False,
    )
    result = spectrum.result
    audit = None
    if isinstance(vector_field, SaturatingMLP):
        ok = result == RESULTS.successful
        audit = nan_unless(ok, lyapunov_audit(vector_field, spectrum.samples, spectrum.exponents))
        result = RESULTS.where(ok & ~audit.contained, RESULTS.check_failed, result)
    return TrajectoryAnalysis(
        exponents=spectrum.exponents,
        stderr=spectrum.stderr,
        sum=spectrum.sum,
        final_state=spectrum.final_state,
        audit=audit,
        result=result,
    )


class LyapunovSweepResult(eqx.Module):
    """The trajectory analyses of a sweep, one per level (every field batched along levels).

    **Fields:** `levels`; `analysis`, a batched `TrajectoryAnalysis` (`analysis.result[i]` is
    level `i`'s status).
    """

    levels: Float[Array, " n"]
    analysis: TrajectoryAnalysis


def _pad(levels, chunk_size):
    # The last chunk is filled up with copies of the last level (results dropped afterwards).
    n_chunks = -(-levels.shape[0] // chunk_size)
    fill = jnp.full(n_chunks * chunk_size - levels.shape[0], levels[-1])
    return jnp.concatenate([levels, fill]).reshape(n_chunks, chunk_size)


@eqx.filter_jit
@eqx.debug.assert_max_traces(max_traces=None)  # counts compilations (tests check compile-once)
def _lyapunov_chunks(vector_field, parameter, chunks, y0, kwargs):
    def analyse(level):
        return analyse_trajectory(at_level(vector_field, parameter, level), y0, **kwargs)

    def step(carry, chunk):
        return carry, jax.vmap(analyse)(chunk)

    _, out = jax.lax.scan(step, None, chunks)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)


def lyapunov_sweep(
    vector_field,
    levels: Float[Array, " n"],
    y0: Float[Array, " d"],
    *,
    parameter: str = "gain",
    chunk_size: int = 8,
    t_total: float,
    renorm_interval: float = 1.0,
    transient: float = 0.0,
    k: int | None = None,
    n_batches: int = 10,
    samples_per_interval: int = 4,
    options: FlowOptions = FlowOptions(),
) -> LyapunovSweepResult:
    """The Lyapunov spectrum (and audit) of `vector_field` at every value of `parameter`.

    Every level integrates from the same `y0` (levels are independent, as in ChaosTools.jl's
    parameter scans; the transient lets each settle on its own attractor). Levels run in
    chunks of `chunk_size`, each chunk one `vmap`, all chunks in one `lax.scan` under one
    compiled call (memory O(`chunk_size`)). A level that fails gets its own status and NaNs;
    the others are unaffected.

    **Arguments:**

    - `vector_field`: an `eqx.Module` field (`SaturatingMLP` or a system).
    - `levels`: the values of `parameter` (1-D).
    - `y0`: the initial state of every level.
    - `parameter`: the Module field to sweep (`"gain"`, `"shift"`, or a system parameter).
    - `chunk_size`: levels per `vmap`.
    - the rest: as in `lyapunov_spectrum`.

    **Returns:** a `LyapunovSweepResult`.
    """
    levels = jnp.asarray(levels)
    y0 = jnp.asarray(y0)
    if levels.ndim != 1 or levels.shape[0] == 0:
        raise ValueError(
            f"lyapunov_sweep: levels must be a non-empty 1-D array, got shape {levels.shape}"
        )
    if chunk_size < 1:
        raise ValueError(f"lyapunov_sweep: chunk_size must be >= 1, got {chunk_size}")
    if not hasattr(vector_field, parameter):
        raise ValueError(f"parameter {parameter!r} is not a field of {type(vector_field).__name__}")
    n = levels.shape[0]
    chunk_size = min(chunk_size, n)
    kwargs = dict(
        t_total=t_total,
        renorm_interval=renorm_interval,
        transient=transient,
        k=k,
        n_batches=n_batches,
        samples_per_interval=samples_per_interval,
        options=options,
    )
    analysis = _lyapunov_chunks(vector_field, parameter, _pad(levels, chunk_size), y0, kwargs)
    return LyapunovSweepResult(levels, jax.tree.map(lambda x: x[:n], analysis))
