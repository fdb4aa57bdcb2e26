"""Lyapunov spectra of Lorenz: satode vs lyapax (JAX, fixed step) vs plain scipy, same accuracy.

Problem: Lorenz (σ, β) = (10, 8/3), ρ = 28 (batch of 1) or ρ ∈ linspace(24, 32, 256); all three
exponents; t_total = 100 after a transient of 10, QR every 0.5, from (1, 1, 1).

Same accuracy: the divergence of Lorenz is the constant −(σ + 1 + β), so the exact sum of the
exponents is known for every ρ and its error measures the integration accuracy alone (the
statistical error is the same for every method: same trajectory length, same renormalisation).
Each method runs a ladder of settings (fixed steps or tolerances), cheapest first; for each
accuracy target in TARGETS (a work–precision comparison) the cheapest setting whose worst sum
error over the batch is within the target is the one compared. Compile time is measured apart
(first call); run time is the median of repeats after a warm-up, `block_until_ready`.

    taskset -c 1 env XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \\
        .venv/bin/python benchmarks/lyapunov.py [--quick]

Writes lyapunov.json (in benchmarks/, or `--out DIR`) and prints a Markdown table.
"""

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import jax


jax.config.update("jax_enable_x64", True)

import diffrax as dfx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import satode  # noqa: E402


T_TOTAL, TRANSIENT, RENORM = 100.0, 10.0, 0.5
SIGMA, BETA = 10.0, 8.0 / 3.0
TRACE = -(SIGMA + 1.0 + BETA)
TARGETS = (1e-7, 1e-8, 1e-9, 1e-10)  # worst |Σλ − tr Df| over the batch


def _time(fn, *args, repeats):
    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return first, float(np.median(times)), out


# ---- satode -----------------------------------------------------------------------------------


def satode_runner(kind, value):
    """`("rtol", r)`: error-controlled Dopri8; `("dt", h)`: fixed Dopri8 steps of `h`
    (`FlowOptions(dt=h)`). Both with the stages unrolled (`satode.Unrolled`, `--unrolled` on
    the CLI): on a closed-form field like Lorenz's that is 5× faster than diffrax's stage loop."""
    solver = satode.Unrolled(dfx.Dopri8())
    if kind == "rtol":
        options = satode.FlowOptions(solver=solver, rtol=value, atol=value / 10)
    else:
        options = satode.FlowOptions(solver=solver, dt=value)

    def one(rho):
        return satode.lyapunov_spectrum(
            satode.systems.Lorenz(rho=rho),
            jnp.ones(3),
            t_total=T_TOTAL,
            renorm_interval=RENORM,
            transient=TRANSIENT,
            options=options,
            throw=False,
        ).exponents

    return jax.jit(jax.vmap(one))


# ---- lyapax -----------------------------------------------------------------------------------


def lyapax_runner(integrator, dt):
    from lyapax.integrators import rk4_step, rk6_step
    from lyapax.sweep import sweep_lyapunov_spectrum

    builder = {"rk4": rk4_step, "rk6": rk6_step}[integrator]

    def step(state, params):
        def rhs(s):
            x, y, z = s
            return jnp.stack([SIGMA * (y - x), x * (params["rho"] - z) - y, x * y - BETA * z])

        return builder(rhs, dt)(state)

    every = int(round(RENORM / dt))

    def run(rhos):
        return sweep_lyapunov_spectrum(
            step,
            jnp.ones(3),
            {"rho": rhos},
            dt=dt,
            n_steps=int(round(T_TOTAL / dt)),
            renorm_every=every,
            t_transient=TRANSIENT,
        ).exponents

    return jax.jit(run)


# ---- scipy ------------------------------------------------------------------------------------


def scipy_one(rho, rtol):
    """Benettin/QR with solve_ivp(DOP853) on the variational system, one member."""

    def rhs(t, s):
        x, y, z = s[:3]
        q = s[3:].reshape(3, 3)
        jac = np.array([[-SIGMA, SIGMA, 0.0], [rho - z, -1.0, -x], [y, x, -BETA]])
        f = [SIGMA * (y - x), x * (rho - z) - y, x * y - BETA * z]
        return np.concatenate([f, (jac @ q).ravel()])

    y, q = np.ones(3), np.eye(3)
    n_tr, n = int(round(TRANSIENT / RENORM)), int(round(T_TOTAL / RENORM))
    logs = np.zeros(3)
    for j in range(n_tr + n):
        sol = solve_ivp(
            rhs,
            (0.0, RENORM),
            np.concatenate([y, q.ravel()]),
            method="DOP853",
            rtol=rtol,
            atol=rtol / 10,
        )
        end = sol.y[:, -1]
        y = end[:3]
        q, r = np.linalg.qr(end[3:].reshape(3, 3))
        sign = np.sign(np.diag(r))
        q = q * sign
        if j >= n_tr:
            logs += np.log(np.abs(np.diag(r)))
    return np.sort(logs / T_TOTAL)[::-1]


def scipy_runner(rtol):
    def run(rhos):
        return np.stack([scipy_one(float(r), rtol) for r in np.asarray(rhos)])

    return run


# ---- driver -----------------------------------------------------------------------------------


def _sum_error(exps):
    return float(np.max(np.abs(np.sum(np.asarray(exps), axis=-1) - TRACE)))


def ladder(name, settings, make, rhos, repeats):
    """Walk `settings` (cheapest first) until the tightest target is met; for every target,
    the first setting that meets it."""
    tried, best = [], {}
    for setting in settings:
        fn = make(*setting)
        first_s, run_s, exps = _time(fn, rhos, repeats=repeats)
        err = _sum_error(exps)
        row = dict(
            method=name,
            setting=list(setting),
            compile_s=first_s - run_s,
            run_s=run_s,
            sum_error=err,
            exponents_mid=[float(v) for v in np.asarray(exps)[len(exps) // 2]],
        )
        tried.append(row)
        print(f"  {name} {setting}: sum error {err:.2e}, run {run_s:.3f} s", flush=True)
        for target in TARGETS:
            if err <= target and target not in best:
                best[target] = row
        if len(best) == len(TARGETS):
            break
    return dict(method=name, best=best, tried=tried)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="batch 32 instead of 256")
    parser.add_argument("--scipy-members", type=int, default=4, help="scipy members timed")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="folder for lyapunov.json"
    )
    args = parser.parse_args()
    batches = [1, 32 if args.quick else 256]
    results = []
    for b in batches:
        rhos = jnp.array([28.0]) if b == 1 else jnp.linspace(24.0, 32.0, b)
        print(f"batch {b}", flush=True)
        repeats = 5 if b == 1 else 2
        # Fixed-step ladders: a whole number of steps per renormalisation interval, the same
        # relative granularity (≈ 10%) for satode and lyapax.
        steps_satode = (12, 13, 14, 15, 16, 18, 20, 22, 24, 27, 30, 33, 36, 40, 44, 48, 54, 60)
        steps_lyapax = (20, 22, 25, 28, 32, 36, 40, 45, 50, 56, 63, 71, 80, 90, 100, 112, 125)
        steps_lyapax += (140, 160, 180, 200)
        ladders = [
            ladder(
                "satode", [("dt", RENORM / n) for n in steps_satode], satode_runner, rhos, repeats
            ),
            ladder(
                "satode adaptive",
                [("rtol", 10.0**-e) for e in range(8, 15)],
                satode_runner,
                rhos,
                repeats,
            ),
            ladder(
                "lyapax", [("rk6", RENORM / n) for n in steps_lyapax], lyapax_runner, rhos, repeats
            ),
        ]
        # scipy is a Python loop: time a few members and scale linearly (it is exactly linear).
        m = min(b, args.scipy_members)
        sci = ladder("scipy", [(10.0**-e,) for e in range(9, 15)], scipy_runner, rhos[:m], 1)
        for row in sci["tried"]:
            row["run_s"] *= b / m
            row["note"] = f"timed on {m} member(s), scaled to {b}"
        ladders.append(sci)
        results.append((b, ladders))

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    import lyapax

    meta = dict(
        problem="Lorenz (10, rho, 8/3), t_total 100 after 10, QR every 0.5, y0 (1,1,1)",
        target_sum_errors=list(TARGETS),
        versions=dict(
            satode=satode.__version__,
            jax=jax.__version__,
            diffrax=dfx.__version__,
            lyapax=lyapax.__version__,
            scipy=scipy.__version__,
            numpy=np.__version__,
            python=platform.python_version(),
        ),
        device=str(jax.devices()[0]),
        dtype="float64",
        git_revision=rev.stdout.strip(),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "lyapunov.json"
    flat = [
        dict(batch=b, method=lad["method"], tried=lad["tried"])
        for b, lads in results
        for lad in lads
    ]
    out.write_text(json.dumps(dict(meta=meta, results=flat), indent=2))

    print()
    print("| batch | target | method | setting | worst sum error | run (s) | compile (s) | ratio |")
    print("|---:|---:|:---|:---|---:|---:|---:|---:|")
    for b, lads in results:
        for target in TARGETS:
            sat = lads[0]["best"].get(target)
            for lad in lads:
                r = lad["best"].get(target)
                if r is None:
                    print(f"| {b} | {target:g} | {lad['method']} | — | — | — | — | not reached |")
                    continue
                ratio = r["run_s"] / sat["run_s"] if sat else float("nan")
                comp = f"{r['compile_s']:.2f}" if lad["method"] != "scipy" else "—"
                print(
                    f"| {b} | {target:g} | {lad['method']} | {r['setting']} | "
                    f"{r['sum_error']:.1e} | {r['run_s']:.3f} | {comp} | {ratio:.2f}× |"
                )
    print("\n(ratio = run time / satode's fixed-step run time: > 1 means satode is faster)")


if __name__ == "__main__":
    main()
