"""Sweeps: many saturation levels, continued along parallel strands, sharded over devices.

Layout. The `n` levels are cut into `width` contiguous strands of `rows = ⌈n / width⌉` levels
(strand `j` holds levels `j·rows … (j+1)·rows − 1`). Step `r` analyses the `r`-th level of every
strand at once (`vmap` over the strands), so each level is warm-started from its own immediate
neighbour, one step earlier on its strand, by a polynomial extrapolation (up to cubic) of the
strand's last orbits on a section fixed per strand. The orbits extrapolated from are their
levels' last Newton iterate plus one more Newton step (`LevelSolve.refined`): free, and exact to
the integration error, where the iterate itself is only within Newton's tolerance. From the
fifth level of a strand on, the prediction passes Newton's closure test at once: one solve per
level. The first level of every strand searches from `y0` (or shoots from `(y0, period)`).

Execution. Steps run in blocks of `_ROWS_PER_CALL` (`lax.scan` inside one compiled call); the
strand states stay on the device between blocks and each block's results go to the host, so
device memory is O(`width`) whatever `n`. `width` is a size class (a power of two chosen from
`n`, or `chunk_size`): every sweep of the same class reuses one compilation. The strands are
sharded over `devices` (default `jax.devices()`) with `jax.shard_map`; every strand's arithmetic
is the same on any number of devices.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array, Float

from ._analysis import assemble_analysis, at_level, OrbitAnalysis
from ._floquet import floquet, Monodromy
from ._flow import FlowOptions
from ._level import analyse_level
from ._periodic_orbit import _unit, Shooting
from ._results import RESULTS


# Steps per compiled call: enough that the per-call overhead vanishes, few enough that a block's
# results (and the padding of the last block) stay small.
_ROWS_PER_CALL = 16
# Default strand count. On a CPU a step's cost grows with the batch (measured on the quickstart
# network, one core: ~1.5 + 0.5·w ms a lap for w strands), while a strand's first levels cost
# ~17 one-lap solves (search, then Newton from short histories) and every later level one: the
# total `(a + b·w)(13 + n/w)` is least near `w = √(n/4)` (1024 levels at 16, 32, 64, 128 strands:
# 0.70, 0.82, 0.90, 1.31 ms per orbit; 64 levels at 1, 2, 4: 4.1, 4.1, 3.1), at most
# `_MAX_WIDTH_CPU` strands per device. Accelerators run a batch step in about the same time
# whatever its width: there strands of `_TARGET_ROWS` levels, up to `_MAX_WIDTH_ACCELERATOR`.
_MAX_WIDTH_CPU = 64
_TARGET_ROWS = 16
_MAX_WIDTH_ACCELERATOR = 1024
# Orbits a strand extrapolates from (cubic extrapolation).
_HISTORY = 4


class SweepResult(eqx.Module):
    """The analyses of a sweep, one per level (every field batched along the levels).

    **Fields:** `levels`; `analysis` (a batched `OrbitAnalysis`: `analysis.result[i]` is level
    `i`'s status); `last_y0`, `last_period`: the orbit at the last level that has one, to continue
    a sweep; `solves`: variational solves per level (a cost measure).
    """

    levels: Float[Array, " n"]
    analysis: OrbitAnalysis
    last_y0: Float[Array, " d"]
    last_period: Float[Array, ""]
    solves: Array | None = None


class _Strand(eqx.Module):
    """What a strand carries from one level to the next."""

    levels: Array  # (K,) the levels of its last orbits, newest first
    y: Array  # (K, d)
    period: Array  # (K,)
    count: Array  # how many of the K are valid
    section: tuple[Array, Array]  # the phase section the history lies on


def _predict(strand: _Strand, level):
    """Lagrange extrapolation of `(y, T)` to `level` from the strand's last orbits."""
    k = strand.levels.shape[0]
    m = jnp.minimum(strand.count, k)
    idx = jnp.arange(k)
    used = idx < m
    s = strand.levels
    diff = s[:, None] - s[None, :]
    pair = used[:, None] & used[None, :] & (idx[:, None] != idx[None, :])
    distinct = ~jnp.any(pair & (diff == 0))

    def weight(i):
        factors = jnp.where(used & (idx != i), (level - s) / jnp.where(pair[i], diff[i], 1.0), 1.0)
        return jnp.where(used[i], jnp.prod(factors), 0.0)

    w = jax.vmap(weight)(idx)
    # Repeated levels (padding) make the nodes degenerate: then take the newest orbit.
    w = jnp.where(distinct, w, (idx == 0).astype(w.dtype))
    return w @ strand.y, w @ strand.period, m > 0


def _push(strand: _Strand, level, y, period, ok, section):
    """Add an orbit to the history; a new section restarts it."""
    same = jnp.all(section[0] == strand.section[0]) & jnp.all(section[1] == strand.section[1])
    keep = same & (strand.count > 0)

    def shift(old, new):
        rolled = jnp.concatenate([new[None], old[:-1]])
        fresh = jnp.zeros_like(old).at[0].set(new)
        return jnp.where(ok, jnp.where(keep, rolled, fresh), old)

    return _Strand(
        levels=shift(strand.levels, level),
        y=shift(strand.y, y),
        period=shift(strand.period, period),
        count=jnp.where(ok, jnp.where(keep, strand.count + 1, 1), strand.count),
        section=jax.tree.map(lambda a, b: jnp.where(ok, a, b), section, strand.section),
    )


def _analyse_member(vector_field, parameter, level, active, strand, y0, period, warm, kwargs):
    vf = at_level(vector_field, parameter, level)
    options, n_samples = kwargs["options"], kwargs["n_samples"]
    if warm:
        y_pred, t_pred, has = _predict(strand, level)
        y_start = jnp.where(has, y_pred, y0)
        t_start = jnp.where(has, t_pred, period)
        own = (y0, _unit(vf(0.0, y0, None))[0])
        section = jax.tree.map(lambda a, b: jnp.where(has, a, b), strand.section, own)
    else:
        y_start, t_start, section = y0, period, None
    lv = analyse_level(
        vf,
        y_start,
        period=t_start,
        section=section,
        transient=kwargs["transient"],
        n_samples=n_samples,
        options=options,
        shooting=kwargs["shooting"],
        max_period=kwargs["max_period"],
        active=active,
    )
    mono = Monodromy(lv.matrix, lv.trace_integral, lv.end, lv.orbit.result)
    spectrum = floquet(vf, lv.orbit, options=options, throw=False, monodromy_matrix=mono)
    analysis = assemble_analysis(
        vf,
        lv.orbit,
        spectrum,
        lv.samples,
        n_samples=n_samples,
        circle_radius=kwargs["circle_radius"],
        options=options,
    )
    if warm:
        ok = active & (lv.orbit.result == RESULTS.successful)
        strand = _push(strand, level, *lv.refined, ok, lv.section)
    return analysis, lv.solves, strand


@eqx.filter_jit
@eqx.debug.assert_max_traces(max_traces=None)  # counts compilations (tests check compile-once)
def _sweep_chunks(vector_field, parameter, levels, active, strands, y0, period, warm, kwargs, mesh):
    """One block: `levels`, `active` of shape (rows, width); `strands` batched over width."""
    params, static = eqx.partition(vector_field, eqx.is_array)

    def local(params, levels, active, strands, y0, period):
        field = eqx.combine(params, static)

        def member(level, on, strand):
            return _analyse_member(field, parameter, level, on, strand, y0, period, warm, kwargs)

        def step(strands, row):
            level, on = row
            analysis, solves, strands = jax.vmap(member)(level, on, strands)
            return strands, (analysis, solves)

        strands, out = jax.lax.scan(step, strands, (levels, active))
        return out, strands

    rows = P(None, "levels")
    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(), rows, rows, P("levels"), P(), P()),
        out_specs=(rows, P("levels")),
        check_vma=False,
    )(params, levels, active, strands, y0, period)


def _width(n: int, chunk_size: int | None, n_devices: int, platform: str = "cpu") -> int:
    """The size class: strands per batch, a power of two (times the device count)."""
    if chunk_size is None and platform == "cpu":
        width = min(n_devices * _MAX_WIDTH_CPU, 2 ** round(math.log2(max(1.0, math.sqrt(n / 4)))))
    elif chunk_size is None:
        cap = n_devices * _MAX_WIDTH_ACCELERATOR
        width = min(cap, 2 ** math.ceil(math.log2(max(1, -(-n // _TARGET_ROWS)))))
    else:
        width = min(chunk_size, 2 ** math.ceil(math.log2(n)))
    return n_devices * -(-width // n_devices)


def _global(x, sharding):
    """A (possibly multi-process) global array from a host array every process holds."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _to_host(tree):
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(np.asarray, tree)


def sweep(
    vector_field,
    levels: Float[Array, " n"],
    y0: Float[Array, " d"],
    *,
    parameter: str = "gain",
    period=None,
    warm_start: bool = True,
    chunk_size: int | None = None,
    n_samples: int = 2049,
    circle_radius: float | None = None,
    transient=0.0,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e6,
    devices=None,
) -> SweepResult:
    """Analyse `vector_field` at every value of `parameter` in `levels`.

    Every level gets the orbit of the field at that level, its Floquet spectrum and (for MLPs)
    the saturation audit, as `analyse_orbit` computes them (see the module docstring for how the
    levels are batched, continued and sharded). With `warm_start`, each level starts Newton from
    an extrapolation of its strand's previous orbits and falls back to a Poincaré search from
    `y0` where that fails; without it every level searches from `y0` independently.

    A level whose orbit vanished gets `no_orbit` (and NaNs); the others are unaffected.

    **Arguments:**

    - `vector_field`: an `eqx.Module` field (`SaturatingMLP` or a system).
    - `levels`: the values of `parameter` (1-D).
    - `y0`: where the first search of every strand starts.
    - `parameter`: the Module field to sweep (`"gain"`, `"shift"`, or a system parameter).
    - `period`: a period guess at `y0` (then the first level of each strand shoots from it).
    - `warm_start`: continuation along the strands (above).
    - `chunk_size`: strands analysed together (the batch width; memory is O(`chunk_size`)).
        Default: on CPUs the power of two nearest `√(n/4)`, at most 64 per device; on
        accelerators a power of two near `n / 16`, at most 1024 per device.
    - `n_samples`, `circle_radius`, `transient`, `options`, `shooting`, `max_period`: as in
        `analyse_orbit`.
    - `devices`: the devices to shard the strands over (default `jax.devices()`, all processes'
        devices after `jax.distributed.initialize`).

    **Returns:** a `SweepResult`.
    """
    levels = np.asarray(levels)
    y0 = jnp.asarray(y0)
    if levels.ndim != 1 or levels.shape[0] == 0:
        raise ValueError(f"sweep: levels must be a non-empty 1-D array, got shape {levels.shape}")
    if not np.all(np.isfinite(levels)):
        raise ValueError(f"sweep: levels must be finite, got {levels[~np.isfinite(levels)][:3]}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"sweep: chunk_size must be >= 1, got {chunk_size}")
    if not hasattr(vector_field, parameter):
        raise ValueError(f"parameter {parameter!r} is not a field of {type(vector_field).__name__}")
    # The state in the field's precision where that is wider (float32 `y0`, float64 weights).
    dtype = jnp.result_type(
        y0, *(x for x in jax.tree.leaves(vector_field) if eqx.is_inexact_array(x))
    )
    y0 = y0.astype(dtype)
    devices = tuple(jax.devices() if devices is None else devices)
    n = levels.shape[0]
    width = _width(n, chunk_size, len(devices), devices[0].platform)
    rows = -(-n // width)
    blocks = -(-rows // _ROWS_PER_CALL)
    total_rows = blocks * _ROWS_PER_CALL
    # Strand j holds levels j·rows … (j+1)·rows − 1; the grid is (row, strand).
    index = np.arange(width)[None, :] * rows + np.arange(total_rows)[:, None]
    active = (index < n) & (np.arange(total_rows)[:, None] < rows)
    grid = levels.astype(dtype)[np.minimum(index, n - 1)]

    mesh = Mesh(np.asarray(devices), ("levels",))
    by_rows = NamedSharding(mesh, P(None, "levels"))
    by_strand = NamedSharding(mesh, P("levels"))
    d = y0.shape[0]
    own = (np.asarray(y0), np.zeros(d, dtype))
    strands = _Strand(
        levels=np.zeros((width, _HISTORY), dtype),
        y=np.zeros((width, _HISTORY, d), dtype),
        period=np.zeros((width, _HISTORY), dtype),
        count=np.zeros(width, np.int32),
        section=(np.broadcast_to(own[0], (width, d)), np.broadcast_to(own[1], (width, d))),
    )
    strands = jax.tree.map(lambda x: _global(x, by_strand), strands)
    kwargs = dict(
        n_samples=n_samples,
        circle_radius=circle_radius,
        transient=transient,
        options=options,
        shooting=shooting,
        max_period=max_period,
    )
    t0 = np.asarray(np.nan if period is None else period, dtype)
    outs = []
    pending = None
    for b in range(blocks):
        part = slice(b * _ROWS_PER_CALL, (b + 1) * _ROWS_PER_CALL)
        out, strands = _sweep_chunks(
            vector_field,
            parameter,
            _global(grid[part], by_rows),
            _global(active[part], by_rows),
            strands,
            y0,
            t0,
            warm_start,
            kwargs,
            mesh,
        )
        # Fetch the previous block while this one runs: one block on the device at a time.
        if pending is not None:
            outs.append(_to_host(pending))
        pending = out
    outs.append(_to_host(pending))
    analysis, solves = jax.tree.map(lambda *xs: np.concatenate(xs), *outs)

    def by_level(x):
        # (total_rows, width, ...) -> level order j·rows + r -> the first n.
        x = np.swapaxes(x[:rows], 0, 1)
        return np.ascontiguousarray(x.reshape(width * rows, *x.shape[2:])[:n])

    # Reordered on the host and handed back with `device_put`: `jnp` operations on host arrays
    # would each compile a small XLA program the first time (~0.4 s of a sweep's first call).
    analysis = jax.tree.map(by_level, analysis)
    solves = by_level(solves)
    ok = analysis.result._value == RESULTS.successful._value
    if warm_start and ok.any():
        last = int(np.flatnonzero(ok)[-1])
        last_y0, last_period = analysis.orbit.y0[last], analysis.orbit.period[last]
    else:
        last_y0, last_period = np.asarray(y0), np.asarray(np.nan, dtype)
    return jax.device_put(SweepResult(levels, analysis, last_y0, last_period, solves))
