"""Branches as tidy rows, JSON and reports: the `satode continue` command and the sweep switch."""

import json
import math
import re
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._continuation import Branch, continue_orbit
from ._errors import InputError
from ._io import writable_folder
from ._results import status_name
from ._tables import analysis_rows, json_safe


def branch_rows(branch: Branch) -> list[dict]:
    """One flat dict per branch point (the columns of `results.csv`), plus `amplitude` and
    `event`: the type of each event on the point nearest to it (where the branch ends, the last
    point)."""
    if branch.analysis is None:
        return []
    rows = analysis_rows(branch.levels, branch.analysis)
    for row, amp in zip(rows, np.asarray(branch.amplitude), strict=True):
        row["amplitude"] = float(amp)
        row["event"] = ""
    levels = np.asarray(branch.levels)
    for event in branch.events:
        i = int(np.argmin(np.abs(levels - event.value)))
        rows[i]["event"] = "+".join(filter(None, [rows[i]["event"], event.kind]))
    return rows


def branch_record(branch: Branch, *, system: str, params: dict) -> dict:
    """The JSON object `satode continue --json` prints."""
    points = []
    for row in branch_rows(branch):
        n = sum(bool(re.fullmatch(r"exponent_[0-9]+", k)) for k in row)
        points.append(
            {
                branch.parameter: row["level"],
                "period": row["period"],
                "exponents": [row[f"exponent_{j}"] for j in range(1, n + 1)],
                "amplitude": row["amplitude"],
                "status": row["status"],
                **({"c_empirical": row["c_empirical"]} if "c_empirical" in row else {}),
                **({"c_theory": row["c_theory"]} if "c_theory" in row else {}),
            }
        )
    return json_safe(
        {
            "system": system,
            "params": params,
            "parameter": branch.parameter,
            "status": status_name(branch.result._value),
            "stop_reason": branch.stop_reason,
            "branch": points,
            "events": [e.to_dict() for e in branch.events],
        }
    )


def print_branch(record: dict):
    p = record["parameter"]
    print(f"{record['system']}  continued in {p}  ({record['stop_reason']})")
    print(f"  {p:>16}  {'period':>14}  {'amplitude':>10}  status        exponents")
    for pt in record["branch"]:
        exps = "  ".join(f"{v:.6g}" if v is not None else "—" for v in pt["exponents"])
        period = pt["period"] if pt["period"] is not None else math.nan
        print(
            f"  {pt[p]:16.10g}  {period:14.8g}  {pt['amplitude']:10.4g}  {pt['status']:<12}  {exps}"
        )
    from ._report import bracket_text

    if not record["events"]:
        print("  events: none")
    for e in record["events"]:
        print(f"  event: {e['type']:<15} {p} = {e['value']:.12g}   {bracket_text(e)}")


def run_continue(args) -> int:
    """`satode continue SYSTEM --param NAME --from A --to B` (see `satode continue --help`)."""
    from ._analysis import at_level
    from ._flow import FlowOptions
    from ._target import check_field, resolve_target

    field, resolved, y0 = resolve_target(args)
    names = list(resolved)
    if args.param not in names or not hasattr(field, args.param):
        raise InputError(
            f"--param: {args.param!r} is not a parameter of {args.system}; expected one of {names}"
        )
    for name in ("start", "stop"):
        if not math.isfinite(getattr(args, name)):
            raise InputError(f"--{'from' if name == 'start' else 'to'}: expected a finite number")
    if args.start == args.stop:
        raise InputError("--from and --to: expected two different values")
    if args.period is not None and not (math.isfinite(args.period) and args.period > 0):
        raise InputError(f"--period: expected a finite number > 0, got {args.period}")
    if args.tol is not None and not (math.isfinite(args.tol) and args.tol > 0):
        raise InputError(f"--tol: expected a finite number > 0, got {args.tol}")
    if args.max_points < 2:
        raise InputError(f"--max-points: expected an integer >= 2, got {args.max_points}")
    dim = getattr(field, "dim", None)
    if dim is not None and len(y0) != int(dim):
        raise InputError(f"--y0: {args.system} has dimension {int(dim)}, got {len(y0)} numbers")
    check_field(field, y0, what=args.system)
    out_dir = writable_folder(args.out) if args.out else None
    field = at_level(field, args.param, args.start)
    resolved = {**resolved, args.param: args.start}  # the parameters where the branch starts
    transient = args.transient
    if transient is None:
        transient = 10 * float(getattr(field, "time_scale", 10.0))
    progress = (
        None
        if args.json
        else (lambda msg: print("satode continue: " + msg, file=sys.stderr, flush=True))
    )
    branch = continue_orbit(
        field,
        args.param,
        args.start,
        args.stop,
        jnp.asarray(y0, jnp.float32 if args.float32 else jnp.float64),
        period=args.period,
        method=args.method,
        step=args.step,
        tol=args.tol,
        max_points=args.max_points,
        transient=transient,
        options=FlowOptions(rtol=args.rtol, atol=args.atol),
        progress=progress,
    )
    record = branch_record(branch, system=args.system, params=resolved)
    if args.json:
        print(json.dumps(record))
    else:
        print_branch(record)
    if out_dir is not None:
        write_branch(branch, record, out_dir, title=f"{args.system}: {args.param}")
    if record["stop_reason"] == "no_start":
        print(
            f"satode: no_orbit: no periodic orbit at {args.param} = {args.start}", file=sys.stderr
        )
        return 1
    return 0


def write_branch(branch: Branch, record: dict, out_dir: Path, *, title: str | None = None):
    """`results.csv`, `branch.json`, `table.md` and `spectrum.png` (events marked) in `out_dir`."""
    from ._report import write_report
    from ._runner import _atomic_write, _write_csv

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = branch_rows(branch)
    _write_csv(out_dir / "results.csv", rows)
    _atomic_write(out_dir / "branch.json", json.dumps(record, indent=2))
    write_report(rows, out_dir, parameter=branch.parameter, title=title, events=record["events"])


def run_continuation_config(config, out_dir: Path, field, y0, options, shooting) -> list[dict]:
    """The sweep of a config with a `[continuation]` section: one branch from the first level to
    the last, written like a sweep (rows in branch order, events in `branch.json`)."""
    from ._runner import _atomic_write, _read_csv, _versions, config_digest

    sw, cont = config.sweep, config.continuation
    levels = config.levels
    t0 = time.perf_counter()
    digest = config_digest(config)
    try:  # the same config already continued into this folder: its branch, not a new one
        done = json.loads((out_dir / "manifest.json").read_text())
        if done.get("config_digest") == digest and done.get("method") == "continuation":
            print(f"satode sweep: {out_dir} already holds this branch", file=sys.stderr)
            return _read_csv(out_dir / "results.csv")
    except (OSError, ValueError, AttributeError):
        pass

    def progress(msg):
        print("satode sweep (continuation): " + msg, file=sys.stderr, flush=True)

    branch = continue_orbit(
        field,
        sw["parameter"],
        levels[0],
        levels[-1],
        jnp.asarray(y0, jnp.float64),
        period=sw["period"],
        method=cont["method"],
        step=cont["step"],
        max_step=cont["max_step"],
        tol=cont["tol"],
        max_points=cont["max_points"],
        transient=sw["transient"],
        n_samples=sw["n_samples"],
        options=options,
        shooting=shooting,
        max_period=sw["max_period"],
        progress=progress,
    )
    jax.block_until_ready(branch.levels)
    record = branch_record(branch, system=str(config.path), params={})
    write_branch(branch, record, out_dir, title=config.output["title"])
    manifest = {
        "config_file": config.path,
        "config": config.raw,
        "config_digest": digest,
        "method": "continuation",
        "points": len(record["branch"]),
        "stop_reason": branch.stop_reason,
        "events": record["events"],
        "versions": _versions(),
        "device": str(jax.devices()[0]),
        "timings_s": {"total": time.perf_counter() - t0},
        "command": sys.argv,
    }
    _atomic_write(out_dir / "manifest.json", json.dumps(json_safe(manifest), indent=2, default=str))
    return branch_rows(branch)
