"""Running a sweep config end to end: build the field, sweep in blocks, write results as it goes.

Results are written block by block with atomic renames (`results.csv`, `progress.json`), so a
killed sweep loses at most one block; rerunning the same command resumes after the last block
written, from the orbit that block ended on. A different config in the same folder is refused.
"""

import copy
import csv
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._config import SweepConfig
from ._errors import InputError
from ._fit import fit_vector_field
from ._flow import FlowOptions, make_solver
from ._io import ensemble_members, load_mlp, save_mlp, writable_folder
from ._mlp import SaturatingMLP
from ._periodic_orbit import Shooting
from ._report import write_report
from ._sweep import sweep
from ._tables import analysis_rows, json_safe
from ._target import resolve_field


# Levels per vmapped chunk of a Lyapunov sweep when the config leaves `chunk_size` out.
_LYAPUNOV_CHUNK = 8


def flow_options(solver: dict) -> FlowOptions:
    return FlowOptions(
        solver=make_solver(solver["method"], solver["unrolled"]),
        rtol=float(solver["rtol"]),
        atol=float(solver["atol"]),
        dt=None if solver["dt"] is None else float(solver["dt"]),
        max_steps=int(solver["max_steps"]),
    )


def shooting_options(solver: dict) -> Shooting:
    tol = float(solver["newton_tol"])
    return Shooting(rtol=tol, atol=tol, closure_tol=float(solver["closure_tol"]))


def build_field(config: SweepConfig, out_dir: Path | None = None):
    """The vector field a config sweeps, and where its first search starts."""
    if config.system is not None:
        s = config.system
        field, _, y0 = resolve_field(s["name"], preset=s["preset"], params=s["params"])
        return field, y0
    net = config.network
    if net["file"] is not None:
        mlp = load_mlp(network_file(config))
    else:
        mlp = fit_network(config.fit, config.path)
        if out_dir is not None:
            save_mlp(out_dir / "network.npz", mlp)
    for key in ("gain", "shift"):
        if net[key] is not None:
            from ._analysis import at_level

            mlp = at_level(mlp, key, net[key])
    return mlp, [1.0] + [0.0] * (mlp.dim - 1)


def fit_network(fit: dict, path: str) -> SaturatingMLP:
    """Fit a network by the paper's vector-field regression, as `[network.fit]` describes."""
    target, _, _ = resolve_field(fit["system"], preset=fit["preset"], params=fit["params"])
    r = fit["radius"]
    if not (len(r) == 2 and all(isinstance(v, (int, float)) for v in r) and 0 <= r[0] <= r[1]):
        raise InputError(
            f"{path}: network.fit.radius: expected [r_min, r_max] with 0 <= r_min <= r_max, got {r}"
        )
    box = fit.get("box")
    if box is not None and len(box) != target.dim:
        raise InputError(
            f"network.fit.box: expected {target.dim} intervals (one per dimension of "
            f"{fit['system']}), got {len(box)}"
        )
    key_init, key_fit = jax.random.split(jax.random.key(fit["seed"]))
    mlp = SaturatingMLP.random(
        key_init,
        target.dim,
        fit["width"],
        fit["depth"],
        activation=fit["activation"],
        weight_std=fit["weight_std"],
        shift=fit["shift"],
    )
    mlp, _ = fit_vector_field(
        mlp,
        target,
        key_fit,
        n_samples=fit["n_samples"],
        radius=tuple(fit["radius"]),
        steps=fit["steps"],
        learning_rate=fit["learning_rate"],
        optimizer=fit["optimizer"],
        row_norm_max=fit["row_norm_max"],
        train_first_bias=fit["train_first_bias"],
        box=fit.get("box"),
    )
    return mlp


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_csv(path: Path, rows: list[dict]):
    columns = list(rows[0]) if rows else []
    for row in rows:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        parsed = {}
        for k, v in row.items():
            if v in ("True", "False"):
                parsed[k] = v == "True"
            else:
                for kind in (int, float, str):  # the type the row was written with
                    try:
                        parsed[k] = kind(v)
                        break
                    except ValueError:
                        pass
        out.append(parsed)
    return out


# Keys added to the schema after result folders were written: at their defaults they leave the
# digest as it was, so those folders still resume.
_LATER_DEFAULTS = {("solver", "dt"): None, ("solver", "unrolled"): False}


def _file_identity(path: str, config_path: str) -> str:
    """A network file by its content (a moved or copied result folder still resumes)."""
    p = Path(path)
    if not p.is_absolute():
        p = Path(config_path).parent / p
    if p.is_dir():
        p = p / "network.npz"
    try:
        return "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return path


def _refuse_other_config(out_dir: Path, digest: str):
    """Raise `InputError` if `out_dir` holds the results of another config (a grid sweep's
    `progress.json`, or the `manifest.json` of a finished grid sweep or continuation)."""
    for name in ("progress.json", "manifest.json"):
        try:
            old = json.loads((out_dir / name).read_text()).get("config_digest")
        except (OSError, ValueError, AttributeError):
            continue
        if old is not None and old != digest:
            raise InputError(
                f"{out_dir}: holds results of a different config (digest {old} != {digest}); "
                "use another --out or delete it"
            )


def config_digest(config: SweepConfig) -> str:
    """The identity of a config's results: its settings, with the network file by content."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in config.raw.items()}
    for (section, key), default in _LATER_DEFAULTS.items():
        if section in raw and key in raw[section] and raw[section][key] == default:
            del raw[section][key]
            if not raw[section]:
                del raw[section]
    if isinstance(raw.get("network"), dict) and isinstance(raw["network"].get("file"), str):
        raw["network"]["file"] = _file_identity(raw["network"]["file"], config.path)
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _versions() -> dict:
    import diffrax
    import equinox
    import optax
    import optimistix

    from . import __version__

    return {
        "satode": __version__,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "diffrax": diffrax.__version__,
        "equinox": equinox.__version__,
        "optimistix": optimistix.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
    }


def network_file(config: SweepConfig) -> Path | None:
    """The config's `[network] file`, relative to the config's folder (None: no file)."""
    if config.network is None or config.network["file"] is None:
        return None
    file = Path(config.network["file"])
    return file if file.is_absolute() else Path(config.path).parent / file


def with_network(config: SweepConfig, file) -> SweepConfig:
    """`config` run on the network in `file` instead of its `[network.fit]` / `network.file`."""
    if config.network is None:
        raise InputError(f"{config.path}: --network: this config sweeps a system, not a network")
    if config.grid is not None:
        raise InputError(f"{config.path}: --network: a [grid] fits its own networks")
    file = str(Path(file).resolve())
    raw = copy.deepcopy(config.raw)
    net = {k: v for k, v in raw.get("network", {}).items() if k != "fit"}
    net["file"] = file
    raw["network"] = net
    network = dict(config.network, file=file)
    return dataclasses.replace(config, raw=raw, network=network, fit=None)


def run_ensemble(config: SweepConfig, members: list[str], out_dir, *, progress=True):
    """The same sweep for every member of a trained ensemble (`[network] file` = the folder of
    `satode train` with `[ensemble]`): one ordinary sweep per member into
    `out_dir/member_NNN/` (each resumes on its own; all share one compilation, the members
    having the same structure), and `out_dir/results.csv` with every row and its `member`."""
    out_dir = Path(out_dir)
    rows = []
    for i, file in enumerate(members):
        member = with_network(config, file)
        if progress:
            print(f"satode sweep: member {i} ({file})", file=sys.stderr, flush=True)
        sub = run_config(member, out_dir / f"member_{i:03d}", progress=progress)
        rows += [dict(member=i, network=Path(file).name, **r) for r in sub]
    _write_csv(out_dir / "results.csv", rows)
    return rows


def run_config(config: SweepConfig, out_dir, *, progress=True) -> list[dict]:
    """Run a validated sweep config into `out_dir`; resume if `out_dir` holds a partial run.

    A `[network] file` naming a trained ensemble's folder sweeps every member (`run_ensemble`).

    **Returns:** the result rows (one dict per level).

    **Raises:** `InputError` if `out_dir` is not writable or holds a run of another config.
    """
    file = network_file(config)
    members = ensemble_members(file) if file is not None else []
    if members:
        return run_ensemble(config, members, out_dir, progress=progress)
    out_dir = writable_folder(out_dir)
    digest = config_digest(config)
    progress_file = out_dir / "progress.json"
    results_file = out_dir / "results.csv"
    state = {"config_digest": digest, "done": 0, "y0": None, "period": None}
    rows: list[dict] = []
    _refuse_other_config(out_dir, digest)
    if progress_file.exists():
        state = json.loads(progress_file.read_text())
        rows = _read_csv(results_file)[: state["done"]] if results_file.exists() else []
        state["done"] = len(rows)
        if "block_seconds" not in state and (out_dir / "manifest.json").exists():
            # A folder from before timings were kept in progress.json: take them from its manifest.
            try:
                kept = json.loads((out_dir / "manifest.json").read_text())["timings_s"]
                state.update(seconds=kept["total"], block_seconds=kept["blocks"])
            except (ValueError, KeyError, TypeError):
                pass
    # Timings accumulate over the invocations that built the folder (a resumed run keeps them).
    seconds_before = float(state.get("seconds", 0.0))
    state.setdefault("block_seconds", [])

    t_start = time.perf_counter()
    sw = config.sweep
    if config.network is not None and sw["parameter"] not in ("gain", "shift"):
        raise InputError(
            f"{config.path}: sweep.parameter: {sw['parameter']!r} is not a parameter of a "
            "network; expected 'gain' or 'shift'"
        )
    try:
        field, y0 = build_field(config, out_dir)
    except InputError as e:
        where = "system" if config.system is not None else "network"
        raise InputError(f"{config.path}: [{where}]: {e}") from None
    names = getattr(field, "param_names", ("gain", "shift") if config.network is not None else ())
    if sw["parameter"] not in names:
        default = " (the default)" if "parameter" not in config.raw["sweep"] else ""
        raise InputError(
            f"{config.path}: sweep.parameter: {sw['parameter']!r}{default} is not a parameter "
            f"of this field; expected one of {list(names)}"
        )
    if sw["y0"] is not None:
        y0 = sw["y0"]
    if y0 is None or len(y0) != field_dim(field, y0):
        raise InputError(f"{config.path}: sweep.y0: expected {field_dim(field, y0)} numbers")
    options = flow_options(config.solver)
    shooting = shooting_options(config.solver)
    if config.continuation is not None:  # `[continuation]`: one branch instead of a grid
        from ._branch_io import run_continuation_config

        return run_continuation_config(config, out_dir, field, y0, options, shooting)
    levels = np.asarray(config.levels, dtype=np.float64)
    chunk = sw["chunk_size"]  # None: `sweep` picks the strand count for each block
    # Levels per written block (`block_size`, default 256): few enough to lose little on a kill,
    # many enough that a block's strands continue over many levels (a strand's first levels
    # cost several solves, every later one about one) and the per-call overhead vanishes.
    block = min(max(sw["block_size"], chunk or 1), len(levels))
    y_carry = jnp.asarray(state["y0"] if state["y0"] is not None else y0, jnp.float64)
    t_carry = state["period"] if state["period"] is not None else sw["period"]
    floquet = "floquet" in sw["spectra"]
    lyap_y0 = _lyapunov_y0(config, field, y0)
    for start in range(state["done"], len(levels), block):
        part = levels[start : start + block]
        padded = np.concatenate([part, np.full(block - len(part), part[-1])])
        t0 = time.perf_counter()
        block_rows = None
        if floquet:
            result = sweep(
                field,
                jnp.asarray(padded),
                y_carry,
                parameter=sw["parameter"],
                period=t_carry,
                warm_start=sw["warm_start"],
                chunk_size=None if chunk is None else min(chunk, block),
                n_samples=sw["n_samples"],
                circle_radius=sw["circle_radius"],
                transient=sw["transient"],
                options=options,
                shooting=shooting,
                max_period=sw["max_period"],
            )
            jax.block_until_ready(result)
            real = jax.tree.map(lambda x, n=len(part): x[:n], result.analysis)  # drop the padding
            block_rows = analysis_rows(part, real)
            if sw["warm_start"] and np.isfinite(float(result.last_period)):
                y_carry, t_carry = result.last_y0, float(result.last_period)
        if config.lyapunov is not None:
            block_rows = _lyapunov_block(
                config, field, part, padded, lyap_y0, chunk, options, block_rows
            )
        elapsed = time.perf_counter() - t0
        rows += block_rows
        state.update(
            seconds=seconds_before + time.perf_counter() - t_start,
            block_seconds=state["block_seconds"] + [elapsed],
            done=len(rows),
            y0=[float(v) for v in np.asarray(y_carry)],
            period=None if t_carry is None else float(t_carry),
        )
        _write_csv(results_file, rows)
        _atomic_write(progress_file, json.dumps(state))
        if progress:
            print(
                f"satode sweep: {len(rows)}/{len(levels)} levels "
                f"({time.perf_counter() - t_start:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    manifest = {
        "config_file": config.path,
        "config": config.raw,
        "config_digest": digest,
        "levels": len(levels),
        "statuses": {s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}},
        "versions": _versions(),
        "dtype": str(y_carry.dtype),
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "timings_s": {
            "total": seconds_before + time.perf_counter() - t_start,
            "first_block_including_compile": (state["block_seconds"] or [None])[0],
            "blocks": state["block_seconds"],
        },
        "command": sys.argv,
    }
    _atomic_write(out_dir / "manifest.json", json.dumps(json_safe(manifest), indent=2, default=str))
    write_report(
        rows,
        out_dir,
        parameter=sw["parameter"],
        title=config.output["title"] or f"satode sweep: {Path(config.path).name}",
    )
    return rows


def _lyapunov_y0(config: SweepConfig, field, y0):
    """Where every level's Lyapunov trajectory starts: `lyapunov.y0`, else the sweep's start."""
    if config.lyapunov is None:
        return None
    lyap_y0 = config.lyapunov["y0"] if config.lyapunov["y0"] is not None else y0
    if len(lyap_y0) != field_dim(field, lyap_y0):
        raise InputError(
            f"{config.path}: lyapunov.y0: expected {field_dim(field, lyap_y0)} numbers"
        )
    return jnp.asarray(lyap_y0, jnp.float64)


def _lyapunov_block(config, field, part, padded, y0, chunk, options, floquet_rows):
    """The Lyapunov spectra of one block of levels, merged into its Floquet rows (if any)."""
    from ._lyapunov_report import lyapunov_rows, merge_rows
    from ._lyapunov_sweep import lyapunov_sweep

    ly = config.lyapunov
    k = ly["k"]
    if k is not None and k > len(y0):
        raise InputError(f"{config.path}: lyapunov.k: expected an integer in [1, {len(y0)}]")
    result = lyapunov_sweep(
        field,
        jnp.asarray(padded),
        y0,
        parameter=config.sweep["parameter"],
        chunk_size=min(chunk or _LYAPUNOV_CHUNK, len(padded)),
        t_total=float(ly["t_total"]),
        renorm_interval=float(ly["renorm_interval"]),
        transient=float(ly["transient"]),
        k=k,
        n_batches=ly["n_batches"],
        samples_per_interval=ly["samples_per_interval"],
        options=options,
    )
    jax.block_until_ready(result)
    real = jax.tree.map(lambda x, n=len(part): x[:n], result.analysis)
    return merge_rows(floquet_rows, lyapunov_rows(part, real))


def field_dim(field, y0) -> int:
    dim = getattr(field, "dim", None)
    return int(dim) if dim is not None else len(y0)
