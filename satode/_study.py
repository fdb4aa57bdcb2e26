"""Activation studies: train an ensemble (seeds) per (case, activation), analyse every network.

A study config is a training config (`[data]`, `[model]`, `[train]`, `[solver]`, `[analysis]`)
plus

- `[study]`: `title`, `activations` (list), `seeds` (list), `setup` (default setup name), and
  `[[study.cases]]`, each with a `name` and optional `data` / `analysis` / `train` tables that
  override the base (e.g. a regime's preset, its time grid, its reference values);
- `[setups.NAME]`: optional `data` / `model` / `train` / `solver` overrides (e.g. `ci`, `full`).

Cases run activation by activation, so cases with equal data shapes share one compiled training
step. Results: `study.csv` (one row per network), `study.md` (the table), `study.png`.
"""

import copy
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._errors import InputError
from ._tables import json_safe
from ._train_run import check_train_config, train_config


_OVERRIDABLE = ("data", "model", "train", "solver", "analysis", "ensemble")


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def study_configs(path: str, raw: dict, setup: str | None):
    """The validated training config of every (case, activation), in run order."""
    study = raw["study"]
    for key in ("activations", "seeds", "cases"):
        if not isinstance(study.get(key), list) or not study[key]:
            raise InputError(f"{path}: study.{key}: expected a non-empty list")
    setups = raw.get("setups", {})
    name = setup or study.get("setup")
    if name is not None and name not in setups:
        raise InputError(f"{path}: setup {name!r} not found; expected one of {sorted(setups)}")
    base = {k: raw[k] for k in _OVERRIDABLE if k in raw}
    if name is not None:
        base = _merge(base, {k: v for k, v in setups[name].items() if k in _OVERRIDABLE})
    out = []
    for activation in study["activations"]:
        for i, case in enumerate(study["cases"]):
            if "name" not in case:
                raise InputError(f"{path}: study.cases[{i}]: missing 'name'")
            over = {k: v for k, v in case.items() if k in _OVERRIDABLE}
            cfg = _merge(base, over)
            cfg = _merge(cfg, {"model": {"activation": activation}})
            cfg = _merge(cfg, {"ensemble": {"seeds": study["seeds"]}})
            where = f"{path} (case {case['name']}, activation {activation})"
            out.append((case["name"], activation, check_train_config(where, cfg)))
    return name, out


def run_study(path: str, raw: dict, out_dir, *, setup=None, progress=True) -> list[dict]:
    """Run every (case, activation) of a study config into `out_dir`; write the table/figure."""
    out_dir = Path(out_dir)
    name, configs = study_configs(path, raw, setup)
    rows = []
    t0 = time.perf_counter()
    for case, activation, cfg in configs:
        if progress:
            print(
                f"satode study: {case} / {activation} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        summary = train_config(cfg, out_dir / case / activation, progress=progress)
        for r in summary["analysis"]:
            rows.append(
                {
                    "case": case,
                    "activation": activation,
                    **r,
                    "train_seconds": summary["train_seconds"],
                }
            )
        _write(out_dir, rows, raw["study"].get("title", "satode study"), name, cfg)
    return rows


def report_study(path: str, raw: dict, out_dir, *, setup=None) -> list[dict]:
    """Rebuild `study.csv/.md/.png` from the model folders of a finished study (no training):
    re-reads each folder's `summary.json`."""
    out_dir = Path(out_dir)
    name, configs = study_configs(path, raw, setup)
    rows = []
    for case, activation, _ in configs:
        file = out_dir / case / activation / "summary.json"
        if not file.exists():
            continue
        summary = json.loads(file.read_text())
        for i, r in enumerate(summary["analysis"]):
            c_emp = r.get("c_emp")
            if c_emp is None or not np.isfinite(c_emp):  # no learned orbit: no verdict
                r["could_reach_true"] = None
            rows.append(
                {
                    "case": case,
                    "activation": activation,
                    "member": i,
                    **r,
                    "train_seconds": summary["train_seconds"],
                }
            )
    if not rows:
        raise InputError(f"{out_dir}: no finished study runs found")
    _write(out_dir, rows, raw["study"].get("title", "satode study"), name, configs[-1][2])
    return rows


def _write(out_dir: Path, rows: list[dict], title: str, setup, cfg):
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(out_dir / "study.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    m = cfg["model"]
    head = f"# {title}\n\nsetup: {setup or 'base'} ({m['depth']}×{m['width']})\n\n"
    (out_dir / "study.md").write_text(head + markdown(rows) + "\n")
    (out_dir / "study.json").write_text(json.dumps(json_safe(rows), indent=1, default=str))
    figure(rows, out_dir / "study.png", title)


def _fmt(x, spec=".3g"):
    if isinstance(x, bool):
        return "yes" if x else "no"
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return format(x, spec)


def _could_reach(r):
    c, lam = r.get("after_c_emp_true"), r.get("true_exponent")
    if c is None or lam is None or not np.isfinite(c):
        return None
    return bool(c >= abs(lam))


def markdown(rows: list[dict]) -> str:
    """The study table: one line per network. "On the true cycle" is the audit of the trained
    network over the cycle it should have learned (`U` = that orbit); the certificate columns
    are `satode.certify`'s verdict on the initial and on the trained network."""
    lines = [
        "| case | activation | seed | status | R² (V) | period error | λ learned | λ true | "
        "δ per layer | C_emp | C_theory | C_emp ≥ \\|λ_true\\| | on the true cycle: δ | C_emp | "
        "C_theory | C_emp ≥ \\|λ_true\\| | C_needed | certificate before → after training |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        deltas = [r[k] for k in sorted(r) if k.startswith("delta_")]
        true_deltas = [r[k] for k in sorted(r) if k.startswith("after_delta_")]
        lines.append(
            f"| {r['case']} | {r['activation']} | {r['seed']} | {r['status']} | "
            f"{_fmt(r.get('r2_1'), '.3f')} | {_fmt(r.get('period_error'), '+.2%')} | "
            f"{_fmt(r.get('exponent'), '.4g')} | {_fmt(r.get('true_exponent'), '.4g')} | "
            f"{' / '.join(_fmt(d, '.3g') for d in deltas) or '—'} | {_fmt(r.get('c_emp'))} | "
            f"{_fmt(r.get('c_theory'))} | {_fmt(r.get('could_reach_true'))} | "
            f"{' / '.join(_fmt(d, '.3g') for d in true_deltas) or '—'} | "
            f"{_fmt(r.get('after_c_emp_true'))} | {_fmt(r.get('after_c_theory_true'))} | "
            f"{_fmt(_could_reach(r))} | {_fmt(r.get('c_needed'))} | "
            f"{r.get('before_verdict') or '—'} → {r.get('after_verdict') or '—'} |"
        )
    return "\n".join(lines)


def figure(rows: list[dict], path: Path, title: str):
    """Per case: learned vs true exponent, C_emp vs |λ_true|, and R² of V, by activation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in rows))
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    fig, axes = plt.subplots(3, len(cases), figsize=(4.2 * len(cases), 8.5), squeeze=False)
    for j, case in enumerate(cases):
        sub = [r for r in rows if r["case"] == case]
        x = np.array([acts.index(r["activation"]) for r in sub], float)
        x += np.linspace(-0.15, 0.15, len(sub)) * 0 + np.array(
            [0.12 * (r["seed"] % 3 - 1) for r in sub]
        )
        lam = np.array([r.get("exponent", np.nan) for r in sub], float)
        true = sub[0].get("true_exponent", np.nan)
        ok = np.array([r["status"] == "ok" for r in sub])
        ax = axes[0, j]
        ax.scatter(x[ok], lam[ok], c="C0", label="learned (orbit found)")
        ax.scatter(x[~ok], np.zeros((~ok).sum()), marker="x", c="C3", label="no orbit")
        ax.axhline(true, color="k", lw=1, ls="--", label="true λ")
        ax.set_title(case)
        ax.set_ylabel("non-trivial exponent")
        ax = axes[1, j]
        c = np.array([r.get("c_emp", np.nan) for r in sub], float)
        ax.scatter(x, c, c="C1", label="C_emp (learned orbit)")
        ct = np.array([r.get("after_c_emp_true", np.nan) for r in sub], float)
        ax.scatter(x, ct, c="C4", marker="^", label="C_emp (true cycle)")
        ax.axhline(abs(true), color="k", lw=1, ls="--", label="|λ_true|")
        ax.set_yscale("log")
        ax.set_ylabel("C_emp on the learned orbit")
        ax = axes[2, j]
        r2 = np.array([r.get("r2_1", np.nan) for r in sub], float)
        ax.scatter(x, np.clip(r2, -1, 1), c="C2")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("R² of V (held out; clipped at −1)")
        for ax in axes[:, j]:
            ax.set_xticks(range(len(acts)), acts, rotation=30)
        if j == 0:
            axes[0, 0].legend(fontsize=7)
            axes[1, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
