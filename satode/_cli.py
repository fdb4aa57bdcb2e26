"""The `satode` command line: `floquet`, `lyapunov`, `sweep`, `train`, `continue`, `certify`."""

import argparse
import json
import math
import sys


_EPILOG = "Documentation: README.md. Exit status: 0 ok, 1 computation failed, 2 bad input."


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line `satode: error: …` (exit 2), like every other input error."""

    def error(self, message):
        self.exit(2, f"satode: error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _vector_options(argv: list[str]) -> list[str]:
    """`--y0 -1,0` → `--y0=-1,0`: argparse takes a value starting with '-' for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] == "--y0" and len(nxt) > 1 and nxt[0] == "-" and nxt[1] in "0123456789.":
            out.append(f"--y0={nxt}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="satode", description=__doc__, epilog=_EPILOG)
    p.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("floquet", help="periodic orbit, Floquet spectrum and bound audit")
    f.add_argument("system", help="built-in system name, an MLP .npz, or FILE.py:NAME")
    f.add_argument("--preset", help="named parameter set of a built-in system")
    f.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="parameter")
    f.add_argument("--y0", help="where the transient starts, comma-separated")
    f.add_argument("--period", type=float, help="initial period: shoot from (--y0, T0) directly")
    f.add_argument("--transient", type=float, default=0.0, help="time integrated before search")
    f.add_argument("--circle", type=float, metavar="R", help="prescribed circle of radius R")
    f.add_argument("--samples", type=int, default=4097, help="orbit samples for the audit")
    f.add_argument("--rtol", type=float, default=None, help="default 1e-11 (float32: 1e-6)")
    f.add_argument("--atol", type=float, default=None, help="default 1e-12 (float32: 1e-8)")
    f.add_argument("--max-steps", type=int, default=100_000)
    f.add_argument("--json", action="store_true", help="print one JSON object")

    ly = sub.add_parser("lyapunov", help="Lyapunov spectrum of a trajectory (and bound audit)")
    ly.add_argument("system", help="built-in system name, an MLP .npz, or FILE.py:NAME")
    ly.add_argument("--preset", help="named parameter set of a built-in system")
    ly.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="parameter")
    ly.add_argument("--y0", help="initial state, comma-separated")
    ly.add_argument("--t-total", type=float, default=1000.0, help="averaging time")
    ly.add_argument("--transient", type=float, default=100.0, help="time discarded first")
    ly.add_argument("--renorm-interval", type=float, default=1.0, help="time between QR steps")
    ly.add_argument("--k", type=int, help="number of exponents (default: all)")
    ly.add_argument("--batches", type=int, default=10, help="batch means for the stderr")
    ly.add_argument("--samples-per-interval", type=int, default=4, help="audit samples")
    ly.add_argument("--rtol", type=float, default=1e-10)
    ly.add_argument("--atol", type=float, default=1e-10)
    ly.add_argument(
        "--dt", type=float, default=None, help="fixed step (no error control; default adaptive)"
    )
    ly.add_argument("--max-steps", type=int, default=100_000, help="per renorm interval")
    ly.add_argument(
        "--unrolled",
        action="store_true",
        help="Dopri8 with its stages unrolled (satode.Unrolled): faster for closed-form systems",
    )
    ly.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("sweep", help="run a sweep config (TOML)")
    s.add_argument("config", help="a TOML config, e.g. configs/quickstart.toml")
    s.add_argument("--out", default=None, help="output folder (default out/<config name>)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.add_argument(
        "--network", metavar="NPZ", help="run on this network instead of the config's network"
    )
    s.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: join a jax.distributed job and shard levels over every host's devices",
    )
    s.add_argument("--coordinator", default=None, help="with --distributed: HOST:PORT of process 0")
    s.add_argument("--num-processes", type=int, default=None, help="with --distributed")
    s.add_argument("--process-id", type=int, default=None, help="with --distributed")
    c = sub.add_parser("continue", help="follow a periodic orbit in a parameter (continuation)")
    c.add_argument("system", help="built-in system name, an MLP .npz, or FILE.py:NAME")
    c.add_argument("--preset", help="named parameter set of a built-in system")
    c.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="parameter")
    c.add_argument("--param", required=True, help="the parameter to continue in (gain, mu, ...)")
    c.add_argument("--from", dest="start", type=float, required=True, help="first value")
    c.add_argument("--to", dest="stop", type=float, required=True, help="last value")
    c.add_argument("--method", choices=["arclength", "natural"], default="arclength")
    c.add_argument("--y0", help="where the first orbit is sought, comma-separated")
    c.add_argument("--period", type=float, help="the first orbit's period (Newton from --y0)")
    c.add_argument("--transient", type=float, help="time before the first search")
    c.add_argument("--step", type=float, help="first step (parameter units if natural)")
    c.add_argument("--tol", type=float, help="location tolerance of events in the parameter")
    c.add_argument("--max-points", type=int, default=400)
    c.add_argument("--rtol", type=float, default=1e-11)
    c.add_argument("--atol", type=float, default=1e-12)
    c.add_argument("--out", help="also write results.csv, branch.json, table.md, spectrum.png")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    k = sub.add_parser("certify", help="can a network represent a target's spectrum? (bound)")
    k.add_argument("names", nargs="+", metavar="TARGET MODEL", help="target system and .npz")
    k.add_argument("--preset", help="named parameter set of the target system")
    k.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="parameter")
    k.add_argument("--exponents", help="a measured target spectrum, comma-separated")
    k.add_argument("--period", type=float, help="the target cycle's period (with --exponents)")
    k.add_argument("--planar", action="store_true", help="the target cycle is planar")
    k.add_argument("--tolerance", type=float, default=0.05, help="relative match tolerance")
    k.add_argument(
        "--model-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the network's gain or shift",
    )
    k.add_argument("--json", action="store_true", help="print one JSON object")

    t = sub.add_parser("train", help="train a Neural ODE on trajectories (TOML config)")
    t.add_argument("config", help="a training or study config (TOML)")
    t.add_argument("--out", default=None, help="model folder (default out/<config name>)")
    t.add_argument("--setup", default=None, help="a study config's setup (e.g. ci, full)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--report-only", action="store_true", help="study: rebuild the table only")
    return p


def _continue(args) -> int:
    from ._branch_io import run_continue

    return run_continue(args)


def _certify(args) -> int:
    from ._certify import run_certify

    return run_certify(args)


def _floquet(args) -> int:
    import diffrax
    import equinox as eqx
    import jax.numpy as jnp
    import numpy as np

    from ._analysis import analyse_orbit
    from ._errors import InputError
    from ._flow import FlowOptions
    from ._periodic_orbit import Shooting
    from ._results import RESULTS, status_name
    from ._tables import audit_record, json_safe
    from ._target import check_field, resolve_target

    field, resolved, y0 = resolve_target(args)
    if args.circle is not None and len(y0) != 2:
        raise InputError("--circle: the prescribed circle needs a planar (2-D) field")
    # float32 cannot reach float64's tolerances: its own defaults, Dopri5 (Dopri8's error estimate
    # drowns in float32 rounding, `FlowOptions`) and Newton tolerances to match.
    narrow = args.float32
    args.rtol = args.rtol if args.rtol is not None else (1e-6 if narrow else 1e-11)
    args.atol = args.atol if args.atol is not None else (1e-8 if narrow else 1e-12)
    for name in ("rtol", "atol"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise InputError(f"--{name}: expected a finite number > 0, got {getattr(args, name)}")
    if args.period is not None and not (math.isfinite(args.period) and args.period > 0):
        raise InputError(f"--period: expected a finite number > 0, got {args.period}")
    if args.circle is not None and not (math.isfinite(args.circle) and args.circle > 0):
        raise InputError(f"--circle: expected a finite radius > 0, got {args.circle}")
    if not (math.isfinite(args.transient) and args.transient >= 0):
        raise InputError(f"--transient: expected a finite number >= 0, got {args.transient}")
    if args.max_steps < 1:
        raise InputError(f"--max-steps: expected an integer >= 1, got {args.max_steps}")
    if args.samples < 3:
        raise InputError(f"--samples: expected an integer >= 3, got {args.samples}")
    check_field(field, y0, what=args.system)
    options = FlowOptions(
        solver=diffrax.Dopri5() if narrow else diffrax.Dopri8(),
        rtol=args.rtol,
        atol=args.atol,
        max_steps=args.max_steps,
    )
    shooting = Shooting(rtol=1e-5, atol=1e-5, closure_tol=1e-4) if narrow else Shooting()
    dtype = jnp.float32 if args.float32 else jnp.float64
    run = eqx.filter_jit(analyse_orbit)
    a = run(
        field,
        jnp.asarray(y0, dtype),
        period=args.period,
        transient=args.transient,
        n_samples=args.samples,
        circle_radius=args.circle,
        options=options,
        shooting=shooting,
    )
    status = status_name(a.result)
    record = {
        "system": args.system,
        "params": resolved,
        "status": status,
        "period": float(a.orbit.period),
        "y0": [float(v) for v in np.asarray(a.orbit.y0)],
        "multipliers": [[float(m.real), float(m.imag)] for m in np.asarray(a.spectrum.multipliers)],
        "exponents": [float(v) for v in np.asarray(a.spectrum.exponents)],
        "exponent_method": a.spectrum.method,
        "exponents_from_eig": int(a.spectrum.n_eig),
        "eig_gap": float(a.spectrum.eig_gap),
        "trivial_multiplier_error": float(a.spectrum.trivial_multiplier_error),
        "liouville_residual": float(a.spectrum.liouville_residual),
        "closure": float(a.orbit.closure),
    }
    if a.audit is not None:
        record["audit"] = audit_record(a.audit)
    if a.curve is not None:
        # Top level: the prescribed curve, with every field an orbit has; the network's own
        # orbit (all its fields) moves under "orbit".
        c = a.curve.spectrum
        orbit_keys = [k for k in record if k not in ("system", "params")]
        record["orbit"] = {k: record.pop(k) for k in orbit_keys}
        mus = np.asarray(c.multipliers)
        record.update(
            status="ok",  # the curve is prescribed: it exists whatever the field does
            period=float(c.period),
            y0=[float(c.radius), 0.0],
            multipliers=[[float(m.real), float(m.imag)] for m in mus],
            exponents=[float(v) for v in np.asarray(c.exponents)],
            exponent_method="eig",
            exponents_from_eig=len(mus),
            eig_gap=None,
            # min |μ − 1|: an orbit has a multiplier 1, so this says how far the curve is from one
            trivial_multiplier_error=float(np.min(np.abs(mus - 1))),
            liouville_residual=float(c.liouville_residual),
            closure=0.0,
            curve="circle",
            radius=float(c.radius),
            trace_integral=float(c.trace_integral),
        )
        if a.curve.audit is not None:
            record["orbit"]["audit"] = record.pop("audit", None)
            record["audit"] = audit_record(a.curve.audit)
    if args.json:
        print(json.dumps(json_safe(record)))
    else:
        _print_human(record)
    if record["status"] != "ok":
        print(f"satode: {status}: {RESULTS[a.result]}", file=sys.stderr)
        return 1
    return 0


def _print_human(record: dict):
    print(f"{record['system']}  {record['params']}")
    print(f"  status      {record['status']}")
    if "curve" in record:
        print(f"  curve       circle of radius {record['radius']:g} (the paper's method)")
    print(f"  period      {record['period']:.12g}")
    print("  exponents   " + "  ".join(f"{v:.10g}" for v in record["exponents"]))
    mods = [abs(complex(*m)) for m in record["multipliers"]]
    print("  |mu|        " + "  ".join(f"{v:.6e}" for v in mods))
    print(
        f"  checks      |mu_triv - 1| = {record['trivial_multiplier_error']:.2e}, "
        f"Liouville residual = {record['liouville_residual']:.2e}"
    )
    audit = record.get("audit")
    if audit:
        from ._tables import audit_lines

        print("\n".join(audit_lines(audit)))
        ratio = audit["rotation_ratio"]
        print(
            f"  rotation    C_emp*T/2pi = {'nan' if ratio is None else f'{ratio:.6g}'}   "
            f"order ok: {audit['contained']}"
        )


def _lyapunov(args) -> int:
    from ._lyapunov_cli import run_lyapunov

    return run_lyapunov(args)


def _sweep(args) -> int:
    from pathlib import Path

    from ._config import load_config
    from ._errors import InputError
    from ._runner import run_config

    config = load_config(args.config)
    out = Path(args.out) if args.out else Path("out") / Path(args.config).stem
    if args.distributed:
        import jax

        from ._devices import initialize_distributed

        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        if jax.process_index() != 0:  # every process gathers all results; one writes them
            out = out / f"process-{jax.process_index()}"
    if args.network is not None or config.paper is not None or config.grid is not None:
        from ._paper import run_study
        from ._runner import with_network

        if args.network is not None:
            if not Path(args.network).is_file():
                raise InputError(f"--network: {args.network}: no such file")
            config = with_network(config, args.network)
        rows = run_study(config, out, progress=not args.quiet)
        counts = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        print(f"wrote {out}/paper.csv, tables.md, study.json, runs/  ({counts})")
        return 0
    rows = run_config(config, out, progress=not args.quiet)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    if rows and "member" in rows[0]:  # a trained ensemble: one sweep folder per member
        n = len({r["member"] for r in rows})
        print(f"wrote {out}/results.csv and {out}/member_000 … member_{n - 1:03d}  ({counts})")
        return 0
    figures = ", ".join(f for f in ("spectrum.png", "lyapunov.png") if (out / f).exists())
    print(f"wrote {out}/results.csv, table.md, {figures}, manifest.json  ({counts})")
    return 0


def _train(args) -> int:
    from ._train_cli import train_command

    return train_command(args)


def main(argv=None) -> int:
    argv = _vector_options(list(sys.argv[1:] if argv is None else argv))
    args = _parser().parse_args(argv)
    import jax

    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    from ._errors import InputError

    try:
        commands = {
            "floquet": _floquet,
            "lyapunov": _lyapunov,
            "sweep": _sweep,
            "train": _train,
            "continue": _continue,
            "certify": _certify,
        }
        return commands[args.command](args)
    except (InputError, ValueError) as e:
        print(f"satode: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Sweeps and training write each finished block / checkpoint as they go.
        where = getattr(args, "out", None) or "the output folder"
        kept = (
            f"; what finished is in {where}, and the same command resumes from there"
            if args.command in ("sweep", "train")
            else ""
        )
        print(f"satode: interrupted{kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
