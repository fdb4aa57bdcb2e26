"""Lyapunov spectra of Lorenz: satode vs lyapax (JAX, fixed step) vs plain scipy, same accuracy.

Problem: Lorenz (σ, β) = (10, 8/3), ρ = 28 (batch of 1) or ρ ∈ linspace(24, 32, 256); all three
exponents; t_total = 100 after a transient of 10, QR every 0.5, from (1, 1, 1).

Same accuracy: the divergence of Lorenz is the constant −(σ + 1 + β), so the exact sum of the
exponents is known for every ρ and its error measures the integration accuracy alone (the
statistical error is the same for every method: same trajectory length, same renormalisation).
Each method runs a short ladder of settings (tolerances / fixed steps); the cheapest setting
whose worst sum error over the batch is ≤ TARGET is timed. Compile time is measured apart
(first call); run time is the median of repeats after a warm-up, `block_until_ready`.

    taskset -c 1 env XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \\
        .venv/bin/python benchmarks/lyapunov.py [--quick]

Writes benchmarks/lyapunov.json and prints a Markdown table.
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
TARGET = 1e-7  # worst |Σλ − tr Df| over the batch


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
    """Time the cheapest setting meeting TARGET (settings ordered cheapest first)."""
    tried = []
    for setting in settings:
        fn = make(*setting)
        compile_s, run_s, exps = _time(fn, rhos, repeats=repeats)
        err = _sum_error(exps)
        tried.append(dict(setting=list(setting), sum_error=err, run_s=run_s))
        print(f"  {name} {setting}: sum error {err:.2e}, run {run_s:.3f} s", flush=True)
        if err <= TARGET:
            return dict(
                method=name,
                setting=list(setting),
                compile_s=compile_s - run_s,
                run_s=run_s,
                sum_error=err,
                exponents_mid=[float(v) for v in np.asarray(exps)[len(exps) // 2]],
                tried=tried,
            )
    return dict(method=name, setting=None, tried=tried, note=f"no setting reached {TARGET:g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="batch 32 instead of 256")
    parser.add_argument("--scipy-members", type=int, default=4, help="scipy members timed")
    args = parser.parse_args()
    batches = [1, 32 if args.quick else 256]
    results = []
    for b in batches:
        rhos = jnp.array([28.0]) if b == 1 else jnp.linspace(24.0, 32.0, b)
        print(f"batch {b}", flush=True)
        repeats = 5 if b == 1 else 2
        # Fixed-step ladders: a whole number of steps per renormalisation interval, the same
        # granularity for satode and lyapax.
        sat = ladder(
            "satode", [("dt", RENORM / n) for n in (12, 14, 16, 20)], satode_runner, rhos, repeats
        )
        sat_adaptive = ladder(
            "satode adaptive",
            [("rtol", 1e-8), ("rtol", 1e-9), ("rtol", 1e-10)],
            satode_runner,
            rhos,
            repeats,
        )
        lyx = ladder(
            "lyapax",
            [("rk6", RENORM / n) for n in (20, 25, 32, 40, 50)]
            + [("rk4", RENORM / n) for n in (200, 400)],
            lyapax_runner,
            rhos,
            repeats,
        )
        # scipy is a Python loop: time a few members and scale linearly (it is exactly linear).
        m = min(b, args.scipy_members)
        sci = ladder("scipy", [(1e-9,), (1e-10,), (1e-11,)], scipy_runner, rhos[:m], 1)
        if sci.get("run_s") is not None:
            sci["run_s"] *= b / m
            sci["note"] = f"timed on {m} member(s), scaled to {b}"
        for r in (sat, sat_adaptive, lyx, sci):
            r["batch"] = b
        results.append((b, sat, sat_adaptive, lyx, sci))

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    import lyapax

    meta = dict(
        problem="Lorenz (10, rho, 8/3), t_total 100 after 10, QR every 0.5, y0 (1,1,1)",
        target_sum_error=TARGET,
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
    out = Path(__file__).with_name("lyapunov.json")
    flat = [r for _, *rs in results for r in rs]
    out.write_text(json.dumps(dict(meta=meta, results=flat), indent=2))

    print()
    print("| batch | method | setting | worst sum error | run (s) | compile (s) | vs satode |")
    print("|---:|:---|:---|---:|---:|---:|---:|")
    for b, sat, *others in results:
        for r in (sat, *others):
            if r.get("run_s") is None:
                print(f"| {b} | {r['method']} | — | — | — | — | {r['note']} |")
                continue
            ratio = r["run_s"] / sat["run_s"] if sat.get("run_s") else float("nan")
            comp = r.get("compile_s")
            comp = f"{comp:.2f}" if comp is not None and r["method"] != "scipy" else "—"
            print(
                f"| {b} | {r['method']} | {r['setting']} | {r['sum_error']:.1e} | "
                f"{r['run_s']:.3f} | {comp} | {ratio:.2f}× |"
            )
    print("\n(vs satode = that method's run time / satode's: > 1 means satode is faster)")


if __name__ == "__main__":
    main()
