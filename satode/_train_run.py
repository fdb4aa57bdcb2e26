"""`satode train CONFIG.toml --out DIR`: config schema, model folders, checkpoints, analysis.

A model folder holds

- `network.npz` (one network) or `network_000.npz`, … (an ensemble): the physical networks in the
  `.npz` format of SCIENCE.md §5, the normalisation folded into the weights (`export_mlp`);
- `model.eqx` + `model.json`: the trained `TrainResult` (normalised network and `Normaliser`,
  `eqx.tree_serialise_leaves`) and a JSON header with every hyperparameter;
- `checkpoint.eqx` + `checkpoint.json`: the last `TrainState` and its header (resume);
- `metrics.csv` (one row per step and member), `members.csv` and `summary.json` (the analysis
  of every trained network: orbit, Floquet spectrum, audit, held-out R²).

`satode.load_mlp(DIR)` and every CLI/config place that takes a network accept the folder.
"""

import csv
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._analysis import analyse_orbit
from ._bounds import saturation_audit
from ._certify import (
    capacity_needed,
    matches_target,
    target_of,
    TargetSpectrum,
    verdict_of,
    weight_constant_needed,
)
from ._config import _check_section, _fail
from ._data import add_noise, make_trajectories, NORMALISATIONS, Normaliser, r_squared, split
from ._errors import InputError
from ._flow import FlowOptions, make_solver
from ._io import save_mlp, writable_folder
from ._periodic_orbit import sample_orbit
from ._tables import json_safe
from ._train import (
    ensemble_models,
    export_mlp,
    init_mlp,
    initial_state,
    INITS,
    OPTIMIZERS,
    predict,
    result_of,
    run,
    SCHEDULES,
    TrainOptions,
    TrainResult,
)
from .systems import get_system, SYSTEMS


_NUMBER = (int, float)
_OPT = object()  # "no default, may be absent"
SCHEMA = {
    "data": dict(
        system=((str,), ...),
        preset=((str,), None),
        params=((dict,), {}),
        initial=((str,), "box"),
        box=((list,), None),
        y0=((list,), None),
        spread=(_NUMBER, 0.1),
        transient=(_NUMBER, 0.0),
        n_train=((int,), 32),
        n_val=((int,), 4),
        n_test=((int,), 4),
        t1=(_NUMBER, ...),
        n_times=((int,), ...),
        noise=(_NUMBER, 0.0),
        normalise=((str,), "none"),
        time_scale=(_NUMBER, 1.0),
        seed=((int,), 0),
    ),
    "model": dict(
        width=((int,), 64),
        depth=((int,), 2),
        activation=((str,), "tanh"),
        init=((str,), "torch"),
        weight_std=(_NUMBER, 0.5),
        gain=(_NUMBER, 1.0),
        shift=(_NUMBER, 0.0),
    ),
    "train": dict(
        curriculum=((list,), ...),
        batch_size=((int,), 16),
        optimizer=((str,), "adam"),
        learning_rate=(_NUMBER, 3e-3),
        schedule=((str,), "constant"),
        warmup_steps=((int,), 0),
        final_lr_factor=(_NUMBER, 0.1),
        weight_decay=(_NUMBER, 1e-4),
        clip_norm=(_NUMBER, 1.0),
        shooting_segments=((int,), 0),
        continuity_weight=(_NUMBER, 1.0),
        eval_every=((int,), 50),
        batch_solve=((str,), "vmap"),
        patience=((int,), 0),
        min_delta=(_NUMBER, 0.0),
        seed=((int,), 0),
        checkpoint_every=((int,), 1),
    ),
    "ensemble": dict(
        seeds=((list,), None),
        parameter=((str,), "gain"),
        levels=((list,), None),
    ),
    "solver": dict(
        method=((str,), "dopri5"),
        rtol=(_NUMBER, 1e-4),
        atol=(_NUMBER, 1e-5),
        max_steps=((int,), 4096),
    ),
    "analysis": dict(
        enabled=((bool,), True),
        y0=((list,), None),
        transient=(_NUMBER, None),
        rtol=(_NUMBER, 1e-10),
        atol=(_NUMBER, 1e-12),
        max_steps=((int,), 200_000),
        n_samples=((int,), 2049),
        reference_period=(_NUMBER, None),
        reference_exponent=(_NUMBER, None),
    ),
}
_TRAIN_SOLVERS = ("dopri5", "dopri8", "tsit5")


def check_train_config(path: str, raw: dict) -> dict:
    """Validate a training config (a dict from TOML); every error names the file and key."""
    sections = set(SCHEMA) | {"output"}
    for key in raw:
        if key not in sections:
            _fail(path, f"[{key}]", f"unknown section; expected {sorted(sections)}")
    for name in ("data", "train"):
        if name not in raw:
            _fail(path, f"[{name}]", "missing required section")
    cfg = {name: _check_section(path, name, raw.get(name, {}), SCHEMA[name]) for name in SCHEMA}
    cfg["output"] = raw.get("output", {})
    d, m, t, e, s = cfg["data"], cfg["model"], cfg["train"], cfg["ensemble"], cfg["solver"]
    if d["system"] not in SYSTEMS:
        _fail(
            path,
            "data.system",
            f"unknown system {d['system']!r}; expected one of {sorted(SYSTEMS)}",
        )
    if d["initial"] not in ("box", "cycle"):
        _fail(path, "data.initial", f"expected 'box' or 'cycle', got {d['initial']!r}")
    if d["normalise"] not in NORMALISATIONS:
        _fail(
            path,
            "data.normalise",
            f"expected one of {list(NORMALISATIONS)}, got {d['normalise']!r}",
        )
    dim = get_system(d["system"]).dim
    if d["initial"] == "box":
        box = d["box"]
        if not (
            isinstance(box, list)
            and len(box) == dim
            and all(isinstance(b, list) and len(b) == 2 and b[0] < b[1] for b in box)
        ):
            _fail(path, "data.box", f"expected {dim} pairs [lo, hi] with lo < hi, got {box!r}")
    for key in ("t1", "time_scale"):
        if not d[key] > 0:
            _fail(path, f"data.{key}", f"expected a number > 0, got {d[key]!r}")
    if d["n_times"] < 3 or d["n_train"] < 1 or d["n_val"] < 0 or d["n_test"] < 0:
        _fail(path, "data", "expected n_times >= 3, n_train >= 1, n_val >= 0, n_test >= 0")
    if m["init"] not in INITS:
        _fail(path, "model.init", f"expected one of {list(INITS)}, got {m['init']!r}")
    from ._activations import ACTIVATIONS

    if m["activation"] not in ACTIVATIONS:
        _fail(path, "model.activation", f"unknown; expected one of {sorted(ACTIVATIONS)}")
    if m["width"] < 1 or m["depth"] < 1:
        _fail(path, "model", "width and depth must be >= 1")
    for i, stage in enumerate(t["curriculum"]):
        if not (
            isinstance(stage, list) and len(stage) == 2 and all(isinstance(v, int) for v in stage)
        ):
            _fail(path, f"train.curriculum[{i}]", f"expected [window_points, steps], got {stage!r}")
    if t["optimizer"] not in OPTIMIZERS:
        _fail(
            path, "train.optimizer", f"expected one of {list(OPTIMIZERS)}, got {t['optimizer']!r}"
        )
    if t["schedule"] not in SCHEDULES:
        _fail(path, "train.schedule", f"expected one of {list(SCHEDULES)}, got {t['schedule']!r}")
    if s["method"] not in _TRAIN_SOLVERS:
        _fail(
            path, "solver.method", f"expected one of {sorted(_TRAIN_SOLVERS)}, got {s['method']!r}"
        )
    if e["parameter"] not in ("gain", "shift"):
        _fail(path, "ensemble.parameter", f"expected 'gain' or 'shift', got {e['parameter']!r}")
    for key in ("seeds", "levels"):
        v = e[key]
        if v is not None and (not v or not all(isinstance(x, _NUMBER) for x in v)):
            _fail(path, f"ensemble.{key}", f"expected a non-empty list of numbers, got {v!r}")
    try:
        train_options(cfg)
    except ValueError as err:
        _fail(path, "train", str(err))
    return cfg


def train_options(cfg: dict) -> TrainOptions:
    t = cfg["train"]
    return TrainOptions(
        curriculum=tuple((int(a), int(b)) for a, b in t["curriculum"]),
        batch_size=t["batch_size"],
        optimizer=t["optimizer"],
        learning_rate=float(t["learning_rate"]),
        schedule=t["schedule"],
        warmup_steps=t["warmup_steps"],
        final_lr_factor=float(t["final_lr_factor"]),
        weight_decay=float(t["weight_decay"]),
        clip_norm=None if t["clip_norm"] <= 0 else float(t["clip_norm"]),
        shooting_segments=t["shooting_segments"],
        continuity_weight=float(t["continuity_weight"]),
        eval_every=t["eval_every"],
        batch_solve=t["batch_solve"],
        patience=t["patience"] or None,
        min_delta=float(t["min_delta"]),
    )


def train_flow(cfg: dict) -> FlowOptions:
    s = cfg["solver"]
    return FlowOptions(
        # Training unrolls its explicit solver's stages: 1.5× the throughput under vmap
        # (benchmarks/README.md, training throughput).
        solver=make_solver(s["method"], unrolled=True),
        rtol=float(s["rtol"]),
        atol=float(s["atol"]),
        max_steps=int(s["max_steps"]),
    )


def digest(cfg: dict) -> str:
    keep = {k: cfg[k] for k in ("data", "model", "train", "ensemble", "solver")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def build_data(cfg: dict):
    """The system, its (train, val, test) trajectories and the normaliser (fitted on train)."""
    d = cfg["data"]
    system = get_system(d["system"]).from_params(d["preset"], **d["params"])
    key = jax.random.key(d["seed"])
    k_data, k_noise = jax.random.split(key)
    n = d["n_train"] + d["n_val"] + d["n_test"]
    y0 = d["y0"] if d["y0"] is not None else list(type(system).default_y0)
    data = make_trajectories(
        system,
        k_data,
        n_trajectories=n,
        t1=float(d["t1"]),
        n_times=d["n_times"],
        initial=d["initial"],
        box=d["box"],
        y0=y0,
        spread=float(d["spread"]),
        transient=float(d["transient"]),
    )
    train, val, test = split(data, d["n_val"], d["n_test"])
    if d["noise"]:
        # Observations are noisy (train and validation); the held-out test set stays clean.
        k1, k2 = jax.random.split(k_noise)
        scale = jnp.std(train.ys.reshape(-1, train.ys.shape[-1]), axis=0)
        train = add_noise(train, k1, float(d["noise"]), scale)
        val = add_noise(val, k2, float(d["noise"]), scale)
    normaliser = Normaliser.fit(d["normalise"], train.ys, float(d["time_scale"]))
    return system, train, val, test, normaliser


def members(cfg: dict) -> list[tuple[int, float]]:
    """The (seed, level) of every ensemble member: seeds × levels."""
    e, m, t = cfg["ensemble"], cfg["model"], cfg["train"]
    seeds = [int(s) for s in (e["seeds"] or [t["seed"]])]
    default = m[e["parameter"]]
    levels = [float(v) for v in (e["levels"] or [default])]
    return [(s, v) for s in seeds for v in levels]


def _models_and_keys(cfg: dict, dim: int):
    m, e = cfg["model"], cfg["ensemble"]
    pairs = members(cfg)

    def make(key):
        return init_mlp(
            key,
            dim,
            m["width"],
            m["depth"],
            activation=m["activation"],
            init=m["init"],
            weight_std=float(m["weight_std"]),
            gain=float(m["gain"]),
            shift=float(m["shift"]),
        )

    init_keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for s, _ in pairs])
    init_keys = jax.random.wrap_key_data(init_keys)
    train_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(init_keys)
    init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(init_keys)
    levels = jnp.asarray([v for _, v in pairs])
    models = ensemble_models(init_keys, levels, e["parameter"], make)
    return models, train_keys, pairs


def _atomic_bytes(path: Path, write):
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(directory: Path, state, header: dict):
    """`checkpoint.eqx` (`eqx.tree_serialise_leaves` of the `TrainState`) + `checkpoint.json`."""
    _atomic_bytes(directory / "checkpoint.eqx", lambda p: eqx.tree_serialise_leaves(p, state))
    step = int(np.max(np.asarray(state.step)))
    text = json.dumps({**header, "step": step}, indent=1, default=str)
    _atomic_bytes(directory / "checkpoint.json", lambda p: p.write_text(text))


def _metric_rows(rows, pairs, ensemble):
    out = []
    for r in rows:
        for i, (seed, level) in enumerate(pairs):
            pick = (lambda x, i=i: float(np.asarray(x)[i])) if ensemble else (lambda x: float(x))
            val = r["val_loss"]
            out.append(
                {
                    "step": r["step"],
                    "member": i,
                    "seed": seed,
                    "level": level,
                    "stage": r["stage"],
                    "window": r["window"],
                    "lr": pick(r["lr"]),
                    "loss": pick(r["loss"]),
                    "grad_norm": pick(r["grad_norm"]),
                    "val_loss": "" if val is None else pick(val),
                }
            )
    return out


_METRIC_COLUMNS = [
    "step",
    "member",
    "seed",
    "level",
    "stage",
    "window",
    "lr",
    "loss",
    "grad_norm",
    "val_loss",
]


def _truncate_metrics(path: Path, step: int):
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_METRIC_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def header_of(cfg: dict, dim: int, pairs) -> dict:
    from . import __version__

    return {
        "format": "satode-trained-model",
        "version": 1,
        "satode": __version__,
        "config_digest": digest(cfg),
        "config": {k: cfg[k] for k in ("data", "model", "train", "ensemble", "solver")},
        "dim": dim,
        "members": [{"seed": s, "level": v} for s, v in pairs],
        "parameter": cfg["ensemble"]["parameter"],
        "dtype": str(jnp.result_type(float)),
    }


def train_config(cfg: dict, out_dir, *, progress: bool = True, until: int | None = None) -> dict:
    """Run a validated training config into `out_dir` (resuming a checkpoint there).

    **Returns:** the summary (also written to `summary.json`).

    **Raises:** `InputError` if `out_dir` holds a run of another config or is not writable.
    """
    out_dir = writable_folder(out_dir)
    t_start = time.perf_counter()
    system, train, val, test, normaliser = build_data(cfg)
    dim = train.ys.shape[-1]
    models, keys, pairs = _models_and_keys(cfg, dim)
    ensemble = len(pairs) > 1
    options, flow = train_options(cfg), train_flow(cfg)
    if not ensemble:
        models = jax.tree.map(lambda x: x[0], models)
        keys = keys[0]
    header = header_of(cfg, dim, pairs)
    state = initial_state(models, keys, train, normaliser, options, ensemble=ensemble)
    ck_json = out_dir / "checkpoint.json"
    metrics_file = out_dir / "metrics.csv"
    if ck_json.exists():
        old = json.loads(ck_json.read_text())
        if old.get("config_digest") != header["config_digest"]:
            raise InputError(
                f"{out_dir}: holds a checkpoint of a different config (digest "
                f"{old.get('config_digest')} != {header['config_digest']}); use another --out"
            )
        state = eqx.tree_deserialise_leaves(out_dir / "checkpoint.eqx", state)
        _truncate_metrics(metrics_file, int(old["step"]))
        if progress:
            print(f"satode train: resuming from step {old['step']}", file=sys.stderr)
    elif metrics_file.exists():
        metrics_file.unlink()
    n_evals = [0]

    def on_eval(state, rows):
        new = not metrics_file.exists()
        with open(metrics_file, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_METRIC_COLUMNS)
            if new:
                w.writeheader()
            w.writerows(_metric_rows(rows, pairs, ensemble))
        n_evals[0] += 1
        if n_evals[0] % max(cfg["train"]["checkpoint_every"], 1) == 0:
            save_checkpoint(out_dir, state, header)

    cycle = capacity_before = None
    if cfg["analysis"]["enabled"]:
        # The certificate before training: can the initial networks, saturated as they are,
        # carry the true cycle's spectrum at all (SCIENCE §2, §7)?
        cycle = true_cycle(system, cfg)
        initial = export_mlp(
            models if ensemble else jax.tree.map(lambda x: x[None], models), normaliser
        )
        capacity_before = capacity_rows(initial, cycle)
    t_train = time.perf_counter()
    state, history = run(
        state,
        train,
        val,
        normaliser,
        options,
        flow,
        ensemble=ensemble,
        on_eval=on_eval,
        progress=progress,
        until=until,
    )
    train_s = time.perf_counter() - t_train
    save_checkpoint(out_dir, state, header)
    if until is not None and until < options.total_steps and not bool(jnp.all(state.stopped)):
        return {"interrupted_at": int(np.max(np.asarray(state.step)))}
    result = result_of(state, normaliser, history, val.n_trajectories > 0)
    save_trained(out_dir, result, header)
    summary = {
        "config_digest": header["config_digest"],
        "members": pairs,
        "train_seconds": train_s,
        "steps": np.asarray(result.steps).tolist(),
        "stopped": np.asarray(result.stopped).tolist(),
        "best_val": np.asarray(result.best_val).tolist(),
    }
    if cfg["analysis"]["enabled"]:
        rows, truth = analyse_trained(result, cycle, test, ensemble=ensemble)
        after = capacity_rows(
            result.physical if ensemble else jax.tree.map(lambda x: x[None], result.physical),
            cycle,
            rows,
        )
        for i, (row, (seed, level)) in enumerate(zip(rows, pairs, strict=True)):
            row.update(member=i, seed=seed, level=level)
            row.update({f"before_{k}": v for k, v in capacity_before[i].items()})
            row.update({f"after_{k}": v for k, v in after[i].items()})
            row["c_needed"] = cycle.c_needed
        _write_rows(out_dir / "members.csv", rows)
        summary.update(truth=truth, analysis=rows)
    summary["total_seconds"] = time.perf_counter() - t_start
    (out_dir / "summary.json").write_text(json.dumps(json_safe(summary), indent=1, default=str))
    return summary


def _write_rows(path: Path, rows: list[dict]):
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def save_trained(out_dir: Path, result: TrainResult, header: dict):
    """Write `model.eqx`, `model.json` and the physical `network*.npz` of a training result."""
    _atomic_bytes(out_dir / "model.eqx", lambda p: eqx.tree_serialise_leaves(p, result))
    losses = np.asarray(result.losses)
    info = {
        **header,
        "normalisation": {
            "kind": result.normaliser.kind,
            "scale": np.asarray(result.normaliser.scale).tolist(),
            "offset": np.asarray(result.normaliser.offset).tolist(),
            "time_scale": float(result.normaliser.time_scale),
        },
        "n_steps_recorded": int(losses.shape[-1]) if losses.size else 0,
        "exported": "weights in physical units: normalisation folded into W1, b1, WL, bL",
    }
    (out_dir / "model.json").write_text(json.dumps(json_safe(info), indent=1, default=str))
    phys = result.physical
    if len(header["members"]) == 1:
        save_mlp(out_dir / "network.npz", phys)
    else:
        for i in range(len(header["members"])):
            save_mlp(out_dir / f"network_{i:03d}.npz", jax.tree.map(lambda x, i=i: x[i], phys))


def load_trained(directory) -> TrainResult:
    """Read a model folder's `TrainResult` (normalised network, normaliser, history).

    **Raises:** `InputError` naming the folder if it is not a satode model folder.
    """
    directory = Path(directory)
    try:
        info = json.loads((directory / "model.json").read_text())
    except (OSError, ValueError):
        raise InputError(
            f"{directory}: not a satode model folder (no readable model.json)"
        ) from None
    cfg = {k: dict(v) for k, v in info["config"].items()}
    cfg["analysis"] = {}
    models, keys, pairs = _models_and_keys(cfg, info["dim"])
    ensemble = len(pairs) > 1
    if not ensemble:
        models = jax.tree.map(lambda x: x[0], models)
    n = info["normalisation"]
    dim = info["dim"]
    normaliser = Normaliser(n["kind"], jnp.ones(dim), jnp.zeros(dim), jnp.asarray(1.0))
    zeros = jnp.zeros((len(pairs),) if ensemble else ())
    steps = info["n_steps_recorded"]
    shape = ((len(pairs),) if ensemble else ()) + (steps,)
    like = TrainResult(
        models,
        normaliser,
        zeros,
        zeros.astype(jnp.int32),
        zeros.astype(bool),
        jnp.zeros(shape),
        jnp.zeros(shape[:-1] + (steps // cfg["train"]["eval_every"],)),
    )
    return eqx.tree_deserialise_leaves(directory / "model.eqx", like)


@eqx.filter_jit
def _analyse_one(field, y0, kw):
    return analyse_orbit(field, y0, **kw)


@eqx.filter_jit
def _analyse_members(fields, y0, kw):
    return eqx.filter_vmap(lambda f: analyse_orbit(f, y0, **kw))(fields)


@eqx.filter_jit
def _predict_members(models, normaliser, y0, ts):
    return eqx.filter_vmap(lambda m: predict(m, normaliser, y0, ts))(models)


@dataclasses.dataclass(frozen=True)
class TrueCycle:
    """The true system's cycle a training run is judged against (physical units)."""

    system: object
    y0: jax.Array
    kw: dict  # the analysis keywords every network is analysed with
    analysis: object  # the true system's OrbitAnalysis
    truth: dict
    target: TargetSpectrum
    c_needed: float


def true_cycle(system, cfg: dict) -> TrueCycle:
    """Orbit, Floquet spectrum and orbit samples of the true system from `analysis.y0`, and the
    capacity `C_needed` any network reproducing it must have (`satode.capacity_needed`)."""
    a = cfg["analysis"]
    options = FlowOptions(rtol=float(a["rtol"]), atol=float(a["atol"]), max_steps=a["max_steps"])
    dtype = jnp.result_type(float)
    y0 = jnp.asarray(a["y0"] if a["y0"] is not None else type(system).default_y0, dtype)
    transient = a["transient"]
    if transient is None:
        transient = 5 * type(system).time_scale
    # Arrays, not Python numbers, so that every case of a study reuses one compiled analysis.
    kw = dict(
        transient=jnp.asarray(transient, dtype),
        max_period=jnp.asarray(1e3 * type(system).time_scale, dtype),
        options=options,
        n_samples=a["n_samples"],
    )
    true = _analyse_one(system, y0, kw)
    truth = {
        "status": int(true.result._value),
        "period": float(true.orbit.period),
        "exponents": np.asarray(true.spectrum.exponents).tolist(),
    }
    if a["reference_period"] is not None:
        truth["reference_period"] = float(a["reference_period"])
    if a["reference_exponent"] is not None:
        truth["reference_exponent"] = float(a["reference_exponent"])
    ok = truth["status"] == 0
    samples = _sample_one(system, true.orbit, a["n_samples"], options) if ok else None
    target = target_of(true, samples)
    c_needed = capacity_needed(target)[0] if ok else math.nan
    return TrueCycle(system, y0, kw, true, truth, target, c_needed)


@eqx.filter_jit
def _sample_one(system, orbit, n, options):
    return sample_orbit(system, orbit, n=n, options=options)


@eqx.filter_jit
def _audit_members(nets, samples, period):
    return eqx.filter_vmap(lambda m: saturation_audit(m, samples, period=period))(nets)


def capacity_rows(nets, cycle: TrueCycle, analysed=None, tolerance: float = 0.05) -> list[dict]:
    """The capacity certificate (`satode.certify`'s rule) of a batch of physical networks
    against the true cycle: `C_theory`, `C_emp` and `C_W` over the true cycle's samples, the
    `C_W` that the networks' saturation there would need, and the verdict — `cannot` (the bound
    on the true cycle is below `C_needed`), `can` (`analysed` rows show the network's own cycle
    matching the true period and exponents within `tolerance`) or `undetermined`. Without
    `analysed` (before training) the verdict is `cannot` or `undetermined`."""
    n = jax.tree.leaves(nets)[0].shape[0]
    if cycle.target.samples is None:
        return [{"verdict": None} for _ in range(n)]
    au = _audit_members(nets, jnp.asarray(cycle.target.samples), cycle.target.period)
    rows = []
    for i in range(n):
        c_theory = float(au.c_theory[i])
        matched = False
        if analysed is not None and analysed[i]["status"] == "ok":
            row = analysed[i]
            own = [row[f"exponent_{k}"] for k in range(1, len(cycle.target.exponents) + 1)]
            matched = matches_target(cycle.target, row["period"], own, tolerance)
        rows.append(
            {
                **{f"delta_{k}": float(d) for k, d in enumerate(np.asarray(au.delta[i]), 1)},
                "c_theory_true": c_theory,
                "c_emp_true": float(au.c_empirical[i]),
                "c_w": float(au.c_w[i]),
                "c_w_needed": weight_constant_needed(cycle.c_needed, au.delta[i]),
                "verdict": verdict_of(c_theory, cycle.c_needed, matched),
            }
        )
    return rows


def analyse_trained(result: TrainResult, cycle: TrueCycle, test, *, ensemble: bool):
    """Orbit, Floquet spectrum and audit of every trained (physical) network and its held-out R²
    per coordinate, against the true cycle. One compiled call per kind."""
    y0, kw, truth = cycle.y0, cycle.kw, dict(cycle.truth)
    t_period = truth.get("reference_period", truth["period"])
    t_exponent = truth.get("reference_exponent", truth["exponents"][-1])
    model, phys = result.model, result.physical
    if not ensemble:
        model, phys = jax.tree.map(lambda x: x[None], (model, phys))
    found = _analyse_members(phys, y0, kw)
    tests = test.ys
    # A learned field may blow up: predictions then hold inf/NaN and R² says so (-inf/NaN).
    pred = _predict_members(model, result.normaliser, tests[:, 0], test.ts)
    from ._results import status_name

    rows = []
    for i in range(pred.shape[0]):
        f = jax.tree.map(lambda x, i=i: x[i], found)
        row = {"status": status_name(np.asarray(f.result._value))}
        period = float(f.orbit.period)
        exponents = np.asarray(f.spectrum.exponents)
        lam = float(exponents[-1])
        row["period"] = period
        row["period_error"] = (period - t_period) / t_period
        row["exponent"] = lam
        row["true_exponent"] = t_exponent
        row["exponent_error"] = (lam - t_exponent) / abs(t_exponent)
        # The whole spectrum too (the certificate compares it with the target's, in any dimension).
        row.update({f"exponent_{k}": float(e) for k, e in enumerate(exponents, 1)})
        for k in range(tests.shape[-1]):
            row[f"r2_{k + 1}"] = float(r_squared(pred[i][..., k], tests[..., k]))
        if f.audit is not None:
            for k, dlt in enumerate(np.asarray(f.audit.delta), 1):
                row[f"delta_{k}"] = float(dlt)
            for k, z in enumerate(np.asarray(f.audit.zero_crossing), 1):
                row[f"zero_crossing_{k}"] = bool(z)
            row["c_emp"] = float(f.audit.c_empirical)
            row["c_theory"] = float(f.audit.c_theory)
            row["c_w"] = float(f.audit.c_w)
            row["rotation_ratio"] = float(f.audit.rotation_ratio)
            c_emp = float(f.audit.c_empirical)
            row["could_reach_true"] = bool(c_emp >= abs(t_exponent)) if np.isfinite(c_emp) else None
        rows.append(row)
    return rows, truth
