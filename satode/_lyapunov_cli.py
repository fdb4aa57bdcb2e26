"""`satode lyapunov SYSTEM …`: the Lyapunov spectrum of one trajectory, as text or JSON."""

import json
import math
import sys


def _check(args, field, y0):
    from ._errors import InputError

    def positive(name, value):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"--{name}: expected a finite number > 0, got {value}")

    positive("t-total", args.t_total)
    positive("renorm-interval", args.renorm_interval)
    positive("rtol", args.rtol)
    positive("atol", args.atol)
    if args.dt is not None:
        positive("dt", args.dt)
    if not (math.isfinite(args.transient) and args.transient >= 0):
        raise InputError(f"--transient: expected a finite number >= 0, got {args.transient}")
    d = len(y0)
    if args.k is not None and not 1 <= args.k <= d:
        raise InputError(f"--k: expected an integer in [1, {d}], got {args.k}")
    n = max(1, round(args.t_total / args.renorm_interval))
    if n < 2:
        raise InputError(
            f"--t-total {args.t_total:g} and --renorm-interval {args.renorm_interval:g}: "
            "expected at least two renormalisation intervals (t_total ≥ 2 × renorm_interval)"
        )
    if not 2 <= args.batches <= n:
        raise InputError(
            f"--batches: expected an integer in [2, t_total / renorm_interval = {n}], "
            f"got {args.batches}"
        )
    if args.samples_per_interval < 1:
        raise InputError(
            f"--samples-per-interval: expected an integer >= 1, got {args.samples_per_interval}"
        )
    if args.max_steps < 1:
        raise InputError(f"--max-steps: expected an integer >= 1, got {args.max_steps}")


def run_lyapunov(args) -> int:
    """Run `satode lyapunov` (exit 0 ok, 1 the computation failed; bad input raises)."""
    import equinox as eqx
    import jax.numpy as jnp
    import numpy as np

    from ._flow import FlowOptions, make_solver
    from ._lyapunov_sweep import analyse_trajectory
    from ._results import RESULTS, status_name
    from ._tables import audit_record, json_safe
    from ._target import check_field, resolve_target

    field, resolved, y0 = resolve_target(args)
    _check(args, field, y0)
    check_field(field, y0, what=args.system)
    options = FlowOptions(
        solver=make_solver("dopri8", args.unrolled),
        rtol=args.rtol,
        atol=args.atol,
        dt=args.dt,
        max_steps=args.max_steps,
    )
    dtype = jnp.float32 if args.float32 else jnp.float64
    a = eqx.filter_jit(analyse_trajectory)(
        field,
        jnp.asarray(y0, dtype),
        t_total=args.t_total,
        renorm_interval=args.renorm_interval,
        transient=args.transient,
        k=args.k,
        n_batches=args.batches,
        samples_per_interval=args.samples_per_interval,
        options=options,
    )
    status = status_name(a.result._value)
    record = {
        "system": args.system,
        "params": resolved,
        "status": status,
        "exponents": [float(v) for v in np.asarray(a.exponents)],
        "stderr": [float(v) for v in np.asarray(a.stderr)],
        "sum": float(a.sum),
        "t_total": args.t_total,
        "transient": args.transient,
        "renorm_interval": args.t_total / max(1, round(args.t_total / args.renorm_interval)),
        # The integration: error-controlled (rtol/atol) or fixed steps of `dt`.
        "step": {"rtol": args.rtol, "atol": args.atol}
        if args.dt is None
        else {"dt": args.dt, "error_control": False},
        "y0": [float(v) for v in y0],
        "final_state": [float(v) for v in np.asarray(a.final_state)],
    }
    if a.audit is not None:
        record["audit"] = audit_record(a.audit)
        for key in ("rotation_ratio", "log_window"):  # periodic-orbit quantities
            record["audit"].pop(key, None)
    if args.json:
        print(json.dumps(json_safe(record)))
    else:
        _print_human(record)
    if status != "ok":
        print(f"satode: {status}: {RESULTS[a.result]}", file=sys.stderr)
        return 1
    return 0


def _print_human(record: dict):
    print(f"{record['system']}  {record['params']}")
    print(f"  status      {record['status']}")
    print(
        f"  trajectory  t_total {record['t_total']:g} after transient {record['transient']:g}, "
        f"QR every {record['renorm_interval']:g}, "
        + (
            f"fixed step ≤ {record['step']['dt']:g} (no error control)"
            if "dt" in record["step"]
            else f"rtol {record['step']['rtol']:g}"
        )
    )
    print("  exponents   " + "  ".join(f"{v:.8g}" for v in record["exponents"]))
    print("  stderr      " + "  ".join(f"{v:.2g}" for v in record["stderr"]))
    print(f"  sum         {record['sum']:.10g}")
    audit = record.get("audit")
    if audit:
        from ._tables import audit_lines

        print("\n".join(audit_lines(audit)))
        print(f"  order ok    {audit['contained']}  (|lambda| <= C_emp <= C_refined <= C_theory)")
