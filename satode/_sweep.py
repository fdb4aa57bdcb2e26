"""Sweeps: one compiled call over many saturation levels, warm-started level to level."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._analysis import analyse_orbit, at_level, OrbitAnalysis
from ._flow import FlowOptions
from ._periodic_orbit import Shooting
from ._results import RESULTS


class SweepResult(eqx.Module):
    """The analyses of a sweep, one per level (every field batched along the levels).

    **Fields:** `levels`; `analysis` (a batched `OrbitAnalysis`: `analysis.result[i]` is level
    `i`'s status); `last_y0`, `last_period`: the last orbit found, to continue a sweep.
    """

    levels: Float[Array, " n"]
    analysis: OrbitAnalysis
    last_y0: Float[Array, " d"]
    last_period: Float[Array, ""]


def _pad(levels, chunk_size):
    n = levels.shape[0]
    n_chunks = -(-n // chunk_size)
    padded = jnp.concatenate([levels, jnp.full(n_chunks * chunk_size - n, levels[-1])])
    return padded.reshape(n_chunks, chunk_size)


@eqx.filter_jit
@eqx.debug.assert_max_traces(max_traces=None)  # counts compilations (tests check compile-once)
def _sweep_chunks(vector_field, parameter, chunks, y0, period, warm_start, kwargs):
    def analyse(level, y_guess, t_guess):
        vf = at_level(vector_field, parameter, level)
        return analyse_orbit(vf, y_guess, period=t_guess if warm_start else None, **kwargs)

    if warm_start:
        # Seed the continuation with a cold search at the first level (it has no neighbour).
        first = analyse_orbit(at_level(vector_field, parameter, chunks[0, 0]), y0, **kwargs)
        found = first.result == RESULTS.successful
        y0 = jnp.where(found, first.orbit.y0, y0)
        period = jnp.where(found, first.orbit.period, jnp.nan)

    def step(carry, chunk):
        y_guess, t_guess = carry
        out = jax.vmap(analyse, in_axes=(0, None, None))(chunk, y_guess, t_guess)
        if warm_start:
            ok = out.orbit.result == RESULTS.successful
            last = jnp.where(jnp.any(ok), jnp.max(jnp.where(ok, jnp.arange(ok.size), -1)), 0)
            keep = jnp.any(ok)
            carry = (
                jnp.where(keep, out.orbit.y0[last], y_guess),
                jnp.where(keep, out.orbit.period[last], t_guess),
            )
        return carry, out

    carry, out = jax.lax.scan(step, (y0, jnp.asarray(period, y0.dtype)), chunks)
    analysis = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)
    return analysis, carry


def sweep(
    vector_field,
    levels: Float[Array, " n"],
    y0: Float[Array, " d"],
    *,
    parameter: str = "gain",
    period=None,
    warm_start: bool = True,
    chunk_size: int = 8,
    n_samples: int = 2049,
    circle_radius: float | None = None,
    transient=0.0,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e6,
) -> SweepResult:
    """Analyse `vector_field` at every value of `parameter` in `levels`, in one compiled call.

    Levels are processed in chunks of `chunk_size`: each chunk is `vmap`ped, and with
    `warm_start` every member of a chunk starts Newton shooting from the last orbit found in the
    previous chunk (natural-parameter continuation in blocks), falling back to a Poincaré search
    where that fails. Without `warm_start` every level searches from `y0` independently. Memory
    is O(`chunk_size`); the call compiles once per (number of chunks, `chunk_size`).

    A level whose orbit vanished gets `no_orbit` (and NaNs); the others are unaffected.

    **Arguments:**

    - `vector_field`: an `eqx.Module` field (`SaturatingMLP` or a system).
    - `levels`: the values of `parameter` (1-D).
    - `y0`: where the first search starts.
    - `parameter`: the Module field to sweep (`"gain"`, `"shift"`, or a system parameter).
    - `period`: a period guess for the first level (then it shoots directly from `y0`).
    - `warm_start`, `chunk_size`: continuation and batching (above).
    - `n_samples`, `circle_radius`, `transient`, `options`, `shooting`, `max_period`: as in
        `analyse_orbit`.

    **Returns:** a `SweepResult`.
    """
    levels = jnp.asarray(levels)
    y0 = jnp.asarray(y0)
    if levels.ndim != 1 or levels.shape[0] == 0:
        raise ValueError(f"sweep: levels must be a non-empty 1-D array, got shape {levels.shape}")
    if chunk_size < 1:
        raise ValueError(f"sweep: chunk_size must be >= 1, got {chunk_size}")
    n = levels.shape[0]
    chunk_size = min(chunk_size, n)
    kwargs = dict(
        n_samples=n_samples,
        circle_radius=circle_radius,
        transient=transient,
        options=options,
        shooting=shooting,
        max_period=max_period,
    )
    t0 = jnp.asarray(jnp.nan if period is None else period, y0.dtype)
    analysis, (last_y0, last_period) = _sweep_chunks(
        vector_field, parameter, _pad(levels, chunk_size), y0, t0, warm_start, kwargs
    )
    analysis = jax.tree.map(lambda x: x[:n], analysis)
    return SweepResult(levels, analysis, last_y0, last_period)
