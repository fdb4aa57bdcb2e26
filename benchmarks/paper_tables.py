"""Regenerate the paper's Illustrations A–F (and the study beyond it) and time them end to end.

Every Illustration is run exactly as a user would, `satode sweep configs/paper_X.toml`, in a
fresh process (JAX start-up and compilation included) into a fresh folder under
`benchmarks/results/`:

- `paper_X/`: our own seeds, training included (the end-to-end time compared with the original
  scripts);
- `paper_X_shared/`: the same config on the paper's own network (`--network ../shared/paper/…`),
  which reproduces its printed numbers;
- `paper_beyond/`: depth × activation × saturation kind.

The original numpy/scipy scripts' times come from `../shared/paper/README.md` (the same kind of
machine); with `--peer DIR` (a checkout of the paper's repository) the script also runs the
original scripts here, side by side (`--peer-only E` runs just the 7.5 s one as a calibration of
this machine's speed). Results go to `benchmarks/results/paper_tables.json` and a Markdown section
of `benchmarks/README.md`.

    python benchmarks/paper_tables.py [--peer DIR] [--peer-only E] [--skip-beyond] [--pin CPU]
"""

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
SHARED = ROOT.parent / "shared" / "paper"
START, END = "<!-- paper_tables:start -->", "<!-- paper_tables:end -->"

# Wall times of the original scripts on a 2-core machine like ours (../shared/paper/README.md).
ORIGINAL_S = {"A–D": 23 * 60 + 35, "E": 7.5, "F": 5 * 60 + 19}
ORIGINAL_SCRIPTS = {
    "A–D": "numerical_experiment.py",
    "E": "exp_E_refined_bounds.py",
    "F": "exp_F_individual_multipliers.py",
}
SHARED_NETWORK = {
    "A": "paper_A_unbiased_32.npz",
    "B": "paper_A_unbiased_32.npz",
    "C": "paper_F_biased_256.npz",
    "E": "paper_E_32.npz",
    "F": "paper_F_biased_256.npz",
}


def _env(pin):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if pin is not None:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def _cmd(pin, args):
    return (["taskset", "-c", str(pin)] if pin is not None else []) + args


def run_satode(config: str, out: Path, pin, network: str | None = None) -> dict:
    """`satode sweep CONFIG` in a fresh process into an emptied `out`; its wall time."""
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-m", "satode", "sweep", config, "--out", str(out), "--quiet"]
    if network is not None:
        args += ["--network", network]
    t0 = time.perf_counter()
    proc = subprocess.run(_cmd(pin, args), cwd=ROOT, env=_env(pin), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{config}: satode sweep failed:\n{proc.stderr[-3000:]}")
    study = json.loads((out / "study.json").read_text())
    return {"wall_s": wall, "timings_s": study["timings_s"], "statuses": study["statuses"]}


def run_peer(peer: Path, which: str, pin) -> float:
    """Run one original script in a scratch copy (it writes figures/ beside itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in ORIGINAL_SCRIPTS.values():
            shutil.copy(peer / f, tmp)
        (Path(tmp) / "figures").mkdir()  # exp_F saves into it without creating it
        env = dict(os.environ, MPLBACKEND="Agg")
        t0 = time.perf_counter()
        proc = subprocess.run(
            _cmd(pin, [sys.executable, ORIGINAL_SCRIPTS[which]]),
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"peer {which} failed:\n{proc.stderr[-2000:]}")
    return wall


def _git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def order_violations() -> tuple[int, int, list[str]]:
    """Rows of every results/*/paper.csv, and those where a bound-order check failed."""
    import csv

    rows = bad = 0
    where = []
    for path in sorted(RESULTS.glob("*/paper.csv")):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                rows += 1
                flags = [r.get(k) for k in ("contained", "circle_contained", "probe_contained")]
                if "False" in flags:
                    bad += 1
                    where.append(f"{path.parent.name}: level {r['level']}")
    return rows, bad, where


def _fmt_s(x):
    if x is None:
        return "—"
    return f"{x:.1f} s" if x < 120 else f"{x / 60:.1f} min"


def markdown(record: dict) -> str:
    sat = record.get("satode", {})
    peer = record.get("peer_measured", {})
    lines = [
        "## Paper reproduction (benchmarks/paper_tables.py)",
        "",
        f"Machine: {record['machine']}; git {record['git']}; {record['date']}. "
        f"{record['pinning']}. The machine is shared and noisy (load average at start "
        f"{record['load_average']}); each figure is one run, so read them to ~±30 %.",
        "",
        "End to end = a fresh `satode sweep configs/paper_X.toml` process: JAX start-up, "
        "compilation, training (own seeds), every orbit, tables and figures. The originals' "
        "times are from `../shared/paper/README.md`"
        + (", and measured here where noted" if peer else "")
        + ".",
        "",
        "| Illustration | original scripts (README; here) | satode, own seeds (training incl.) "
        "| ratio (vs here) "
        "| satode on the paper's network | of which compile+sweeps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    groups = {"A–D": "ABCD", "E": "E", "F": "F"}
    total_sat = total_orig = 0.0
    for group, names in groups.items():
        if not all(n in sat for n in names):
            continue
        own = sum(sat[n]["own"]["wall_s"] for n in names)
        shared_runs = [sat[n]["shared"]["wall_s"] for n in names if "shared" in sat[n]]
        shared = sum(shared_runs) if shared_runs else None
        sweeps = sum(sat[n]["own"]["timings_s"].get("sweeps", 0.0) for n in names)
        measured = peer.get(group)
        # The ratio is against the originals run here, side by side, when they were.
        orig = measured if measured else ORIGINAL_S[group]
        orig_text = _fmt_s(ORIGINAL_S[group]) + (f" (here: {_fmt_s(measured)})" if measured else "")
        total_sat += own
        total_orig += orig
        lines.append(
            f"| {group} | {orig_text} | {_fmt_s(own)} | {orig / own:.1f}× | {_fmt_s(shared)} "
            f"| {_fmt_s(sweeps)} |"
        )
    if not total_sat:
        total_sat = math.nan
    lines.append(
        f"| **all six** | {_fmt_s(total_orig)} | {_fmt_s(total_sat)} | "
        f"**{total_orig / total_sat:.1f}×** | | |"
    )
    per = ", ".join(f"{n} {_fmt_s(sat[n]['own']['wall_s'])}" for n in "ABCDEF" if n in sat)
    lines += ["", f"Per config (own seeds): {per}."]
    if "beyond" in record:
        b = record["beyond"]
        lines.append(
            f"Beyond the paper (`configs/paper_beyond.toml`, 18 networks × 2 saturation kinds): "
            f"{_fmt_s(b['wall_s'])} end to end."
        )
    elif "beyond_partial" in record:
        n = record["beyond_partial"]["members_finished"]
        lines.append(
            "Beyond the paper (`configs/paper_beyond.toml`): all 36 members, run in pieces "
            "(the command resumes), so without one end-to-end time."
            if n >= 36
            else f"Beyond the paper (`configs/paper_beyond.toml`): stopped for time after {n} "
            "of the 36 members; the summary below covers those (rerunning the command resumes)."
        )
    n_rows, n_bad, where = order_violations()
    lines += [
        "",
        f"Bound order (|λ| ≤ C_emp ≤ C̃ ≤ C on the orbit, the same along the circle, "
        f"‖Df(h)‖ ≤ C̃(h) ≤ C(h) at the probe): checked on all {n_rows} rows of "
        f"benchmarks/results/*/paper.csv, {n_bad} violations"
        + (f" ({'; '.join(where[:5])})" if where else "")
        + ".",
    ]
    lines += [
        "",
        "What the originals compute and satode adds: the originals evaluate the unit circle "
        "only (a prescribed curve); satode also finds each scaled network's own periodic orbit "
        "(Poincaré search + Newton shooting, warm-started level to level), its Floquet spectrum "
        "and the bound audit on it, at every level — strictly more work per level.",
        "",
    ]
    for name in ("D", "F", "E"):
        table = RESULTS / f"paper_{name}_shared" / "tables.md"
        if name == "D":
            table = RESULTS / "paper_D" / "tables.md"
        if table.exists():
            body = table.read_text().split("\n", 2)[2].replace("## ", "### ")
            lines += [body.strip(), ""]
    beyond = RESULTS / "paper_beyond" / "tables.md"
    if beyond.exists():
        lines += [beyond.read_text().split("\n", 2)[2].replace("## ", "### ").strip(), ""]
    return "\n".join(lines)


def write_readme(section: str):
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{START}\n{section}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", type=Path, help="a checkout of the paper's repository")
    p.add_argument("--peer-only", nargs="*", default=None, help="subset of A–D, E, F to run")
    p.add_argument("--skip-beyond", action="store_true")
    p.add_argument("--skip-shared", action="store_true", help="not the paper's networks")
    p.add_argument("--report-only", action="store_true", help="rewrite README from the JSON")
    p.add_argument(
        "--collect-beyond",
        action="store_true",
        help="only report the members of an interrupted beyond study that finished",
    )
    p.add_argument("--pin", type=int, default=None, help="pin every process to this CPU")
    p.add_argument("--only", default="ABCDEF", help="which Illustrations to run")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "git": _git_revision(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "pinning": (
            f"every process pinned to CPU {args.pin} (taskset, single-threaded XLA)"
            if args.pin is not None
            else "not pinned (both cores available to every process)"
        ),
        "dtype": "float64",
    }
    store = RESULTS / "paper_tables.json"

    def save(update: dict):
        """Merge `update` into the stored record (two invocations may run side by side)."""
        merged = json.loads(store.read_text()) if store.exists() else {}
        sat = dict(merged.get("satode", {}), **update.pop("satode", {}))
        peer = dict(merged.get("peer_measured", {}), **update.pop("peer_measured", {}))
        merged.update(update, satode=sat)
        if peer:
            merged["peer_measured"] = peer
        store.write_text(json.dumps(merged, indent=2))
        write_readme(markdown(merged))
        return merged

    if args.report_only:
        save({})
        return
    if args.collect_beyond:
        sys.path.insert(0, str(ROOT))
        import jax

        jax.config.update("jax_enable_x64", True)
        from satode._config import load_config
        from satode._paper import collect_grid

        rows = collect_grid(
            load_config(ROOT / "configs/paper_beyond.toml"), RESULTS / "paper_beyond"
        )
        members = len({r["member"] for r in rows})
        save(dict(record, satode={}, beyond_partial={"members_finished": members}))
        print(markdown(json.loads(store.read_text())))
        return
    for name in args.only:
        entry = {
            "own": run_satode(f"configs/paper_{name}.toml", RESULTS / f"paper_{name}", args.pin)
        }
        if name in SHARED_NETWORK and not args.skip_shared:
            entry["shared"] = run_satode(
                f"configs/paper_{name}.toml",
                RESULTS / f"paper_{name}_shared",
                args.pin,
                network=str(SHARED / SHARED_NETWORK[name]),
            )
        print(name, json.dumps({k: round(v["wall_s"], 1) for k, v in entry.items()}), flush=True)
        save(dict(record, satode={name: entry}))
    if not args.skip_beyond:
        beyond = run_satode("configs/paper_beyond.toml", RESULTS / "paper_beyond", args.pin)
        print("beyond", round(beyond["wall_s"], 1), flush=True)
        save(dict(record, satode={}, beyond=beyond))
    if args.peer is not None:
        measured = {}
        aliases = {"AD": "A–D", "A-D": "A–D"}
        groups = [aliases.get(g, g) for g in (args.peer_only or ORIGINAL_SCRIPTS)]
        for group in groups:
            measured[group] = run_peer(args.peer, group, args.pin)
            print("peer", group, round(measured[group], 1), flush=True)
        save(dict(record, satode={}, peer_measured=measured))
    print(markdown(json.loads(store.read_text())))


if __name__ == "__main__":
    main()
