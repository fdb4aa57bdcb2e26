"""Continuation: Hopf, SNIC and fold of cycles located and typed, against independent values."""

import csv
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode import systems
from satode._continuation import continue_orbit


DATA = Path(__file__).parent / "data"
ML_SNIC = systems.MorrisLecar.presets["snic"]
ML_HOPF = systems.MorrisLecar.presets["hopf"]


def _ml_equilibrium_curve(p, v):
    """Morris–Lecar equilibria parametrised by V: w = w∞(V), I(V) = i_ion(V, w∞(V)), and the
    trace and determinant of Df there (numpy, by hand: independent of satode)."""
    m = 0.5 * (1 + np.tanh((v - p["V1"]) / p["V2"]))
    w = 0.5 * (1 + np.tanh((v - p["V3"]) / p["V4"]))
    current = p["g_L"] * (v - p["V_L"]) + p["g_Ca"] * m * (v - p["V_Ca"])
    current = current + p["g_K"] * w * (v - p["V_K"])
    dm = 0.5 / p["V2"] / np.cosh((v - p["V1"]) / p["V2"]) ** 2
    dw = 0.5 / p["V4"] / np.cosh((v - p["V3"]) / p["V4"]) ** 2
    inv_tau = np.cosh((v - p["V3"]) / (2 * p["V4"]))
    f_v = -(p["g_L"] + p["g_Ca"] * (dm * (v - p["V_Ca"]) + m) + p["g_K"] * w) / p["C"]
    f_w = -p["g_K"] * (v - p["V_K"]) / p["C"]
    g_v, g_w = p["phi"] * dw * inv_tau, -p["phi"] * inv_tau
    return current, f_v + g_w, f_v * g_w - f_w * g_v


def _root(fn, a, b, tol=1e-13):
    """Bisection for a sign change of `fn` on [a, b]."""
    fa = fn(a)
    for _ in range(200):
        m = 0.5 * (a + b)
        if fn(m) * fa > 0:
            a, fa = m, fn(m)
        else:
            b = m
        if b - a < tol:
            break
    return 0.5 * (a + b)


def test_stuart_landau_hopf_at_zero():
    branch = continue_orbit(
        systems.StuartLandau(mu=1.0), "mu", 1.0, 0.0, jnp.array([1.0, 0.0]), period=2 * np.pi
    )
    assert branch.stop_reason == "event"
    (event,) = branch.events
    assert event.kind == "hopf"
    # The cycle has radius √μ and exists for every μ > 0: the Hopf point is μ = 0 exactly.
    assert abs(event.value) <= 1e-6
    assert event.lower <= 1e-6  # the cycle itself was followed to within 1e-6 of it
    mu = np.asarray(branch.levels)
    # Every point on the way is the exact cycle: T = 2π, exponents {0, −2μ}.
    np.testing.assert_allclose(branch.analysis.orbit.period, 2 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(branch.analysis.spectrum.exponents[:, 1], -2 * mu, atol=1e-8)
    # Amplitude = peak-to-peak over the solver's steps (≳ 10 a turn at rtol 1e-11): at worst
    # 1 − cos(π/10) ≈ 5e-2 below the diameter.
    np.testing.assert_allclose(branch.amplitude, 2 * np.sqrt(mu), rtol=5e-2)


def test_morris_lecar_snic():
    field = systems.MorrisLecar.from_params("snic", current=50.0)
    # The reference cycle at I = 50 (shared/reference): a point on it and its period.
    y0 = jnp.array([-29.892816463015972, 0.006675231727168069])
    branch = continue_orbit(field, "current", 50.0, 30.0, y0, period=75.54351759650754, tol=1e-5)
    assert branch.stop_reason == "event"
    event = branch.events[-1]
    assert event.kind == "snic"
    # Independent saddle-node of equilibria: dI/dV = 0 on the equilibrium curve I(V).
    v = np.linspace(-40.0, -20.0, 2001)
    current, _, det = _ml_equilibrium_curve(ML_SNIC, v)
    k = np.argmax(current)
    v_sn = _root(lambda x: _ml_equilibrium_curve(ML_SNIC, x)[2], v[k - 50], v[k + 50])
    i_sn = _ml_equilibrium_curve(ML_SNIC, v_sn)[0]
    assert abs(event.value - i_sn) <= 1e-3
    assert abs(event.equilibrium_value - i_sn) <= 1e-8  # the saddle-node itself, refined
    # The cycle was followed to within 1e-3 of it, and its period grows without bound.
    assert event.lower - i_sn <= 1e-3
    periods = np.asarray(branch.analysis.orbit.period)
    levels = np.asarray(branch.levels)
    assert periods[-1] > 10 * periods[0]
    near = levels < i_sn + 0.1
    assert np.all(np.diff(periods[near]) > 0)  # monotone as I decreases to the saddle-node
    # T ≈ K / √(I − I_SN): K is constant along the approach (to 10% over two decades of I − I_SN).
    k_ratio = periods[near] * np.sqrt(levels[near] - i_sn)
    assert np.ptp(k_ratio) <= 0.1 * np.median(k_ratio)


@pytest.mark.slow
def test_morris_lecar_fold_of_cycles():
    """The stable cycle of the bistable `hopf` preset, followed down in I by pseudo-arclength,
    turns at a fold of cycles and continues as the unstable cycle (towards the subcritical Hopf
    point; single shooting loses it once its multiplier is ~50)."""
    field = systems.MorrisLecar()
    y0 = jnp.array([-45.51907444938012, 0.1684754626248796])
    branch = continue_orbit(
        field, "current", 90.0, 80.0, y0, period=102.72716532744528, tol=1e-6, step=0.1
    )
    fold = branch.events[0]
    assert fold.kind == "fold"
    assert fold.upper - fold.lower <= 1e-6
    levels = np.asarray(branch.levels)
    mult = np.abs(np.asarray(branch.analysis.spectrum.multipliers))
    nontrivial = np.where(np.abs(mult[:, 0] - 1) < np.abs(mult[:, 1] - 1), mult[:, 1], mult[:, 0])
    turn = int(np.argmin(levels))
    # Stable before the turn, unstable after it, and the turn is the located fold.
    assert np.all(nontrivial[:turn] < 1) and np.all(nontrivial[turn + 1 :] > 1)
    assert levels[-1] > levels[turn] and turn < len(levels) - 2
    assert abs(levels[turn] - fold.value) <= 1e-5
    # Natural continuation of the stable cycle ends at the same fold, typed by its multiplier.
    natural = continue_orbit(
        field, "current", 90.0, 80.0, y0, period=102.72716532744528, method="natural", tol=1e-6
    )
    (end,) = natural.events
    assert end.kind == "fold"
    assert abs(end.value - fold.value) <= 1e-5


@pytest.mark.slow
def test_quickstart_network_cycle_disappears():
    """The quickstart network (configs/quickstart.toml, saved by its sweep) slows down as the gain
    grows and loses its cycle at a Hopf point of the equilibrium inside it."""
    mlp = satode.load_mlp(DATA / "quickstart_network.npz")
    options = satode.FlowOptions(rtol=1e-10, atol=1e-12)
    y0 = jnp.array([-0.10816959, 0.39766476])  # near the cycle at gain 1.8 (T ≈ 215.2)
    branch = continue_orbit(
        mlp, "gain", 1.8, 1.9, y0, period=215.2262, method="natural", options=options, tol=1e-7
    )
    (event,) = branch.events
    assert event.kind == "hopf"
    gain = event.value

    # Independently: the equilibrium inside the cycle, and the sign of tr Df on either side of
    # the located gain (an unstable focus below, a stable one above), 1e-6 away.
    def trace_at(s):
        field = satode.at_level(mlp, "gain", s)
        y = jnp.asarray(branch.analysis.orbit.y0[-1])
        for _ in range(50):  # plain Newton on f(y) = 0
            jac = jax.jacfwd(lambda z: field(0.0, z))(y)
            y = y - jnp.linalg.solve(jac, field(0.0, y))
        assert float(jnp.max(jnp.abs(field(0.0, y)))) < 1e-12
        eig = np.linalg.eigvals(np.asarray(jax.jacfwd(lambda z: field(0.0, z))(y)))
        assert np.all(np.abs(eig.imag) > 0)  # a focus
        return float(np.trace(np.asarray(jax.jacfwd(lambda z: field(0.0, z))(y))))

    assert trace_at(gain - 1e-6) > 0 > trace_at(gain + 1e-6)
    # A finer plain sweep, warm-started from the orbit at 1.8, agrees: cycles below, none above.
    levels = jnp.concatenate(
        [jnp.linspace(1.81, gain - 2e-4, 4), jnp.linspace(gain + 2e-4, 1.83, 4)]
    )
    sweep = satode.sweep(
        mlp,
        levels,
        y0,
        period=215.2262,
        chunk_size=1,
        n_samples=65,
        options=options,
        max_period=1e4,
    )
    ok = np.asarray(sweep.analysis.result._value) == satode.RESULTS.successful._value
    np.testing.assert_array_equal(ok, np.asarray(levels) < gain)


def test_cli_continue_and_sweep_switch(tmp_path, capsys):
    from satode._cli import main

    argv = ["continue", "stuart-landau", "--param", "mu", "--from", "1", "--to", "0"]
    argv += ["--y0", "1,0", "--period", str(2 * np.pi), "--json"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert [e["type"] for e in record["events"]] == ["hopf"]
    assert abs(record["events"][0]["value"]) <= 1e-6
    first = record["branch"][0]
    assert set(first) >= {"mu", "period", "exponents", "status"}
    assert first["status"] == "ok" and first["exponents"][1] == pytest.approx(-2.0, abs=1e-8)
    # The same branch from a sweep config with a [continuation] section.
    config = tmp_path / "sl.toml"
    config.write_text(
        '[system]\nname = "stuart-landau"\n\n'
        '[sweep]\nparameter = "mu"\nlevels = [1.0, 0.0]\ny0 = [1.0, 0.0]\n'
        "period = 6.283185307179586\nn_samples = 1025\n\n"
        '[continuation]\nmethod = "arclength"\n'
    )
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    events = json.loads((out / "branch.json").read_text())["events"]
    assert [e["type"] for e in events] == ["hopf"] and abs(events[0]["value"]) <= 1e-6
    table = (out / "table.md").read_text()
    assert " event |" in table and "`hopf` at mu" in table
    assert (out / "spectrum.png").stat().st_size > 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert rows[-1]["event"] == "hopf"
    # Rerun: the folder's branch is kept, not recomputed; another config there is refused,
    # whether a continuation with another method or a plain grid sweep.
    before = (out / "branch.json").read_text()
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    assert (out / "branch.json").read_text() == before
    capsys.readouterr()
    section = '[continuation]\nmethod = "arclength"\n'
    for changed in ('[continuation]\nmethod = "natural"\n', ""):
        other = tmp_path / "other.toml"
        other.write_text(config.read_text().replace(section, changed))
        assert main(["sweep", str(other), "--out", str(out), "--quiet"]) == 2
        assert "different config" in capsys.readouterr().err
    assert (out / "branch.json").read_text() == before


def test_cli_continue_refuses_an_unwritable_out_before_working(tmp_path, capsys):
    from satode._cli import main

    (tmp_path / "a_file").write_text("not a folder\n")
    argv = ["continue", "stuart-landau", "--param", "mu", "--from", "1", "--to", "0"]
    argv += ["--y0", "1,0", "--out", str(tmp_path / "a_file" / "branch")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("satode: error: ") and "output folder is not writable" in err


class _TwistedCycle(eqx.Module):
    """The circle `r = 1, z = 0`, turning at `ω`, whose transverse deviation `(r − 1, z)` spirals
    at the rate `μ ± iν`: its Floquet multipliers are exactly `1` and `exp((μ ± iν) 2π/ω)`, a
    complex pair that crosses the unit circle at `μ = 0` (a torus bifurcation)."""

    mu: jax.Array
    omega: float = 1.0
    nu: float = 0.7

    def __call__(self, t, y, args=None):
        x, v, z = y[0], y[1], y[2]
        r = jnp.sqrt(x * x + v * v)
        rho = r - 1.0
        q = rho * rho + z * z
        dr = self.mu * rho - self.nu * z - q * rho
        dz = self.nu * rho + self.mu * z - q * z
        return jnp.stack([dr * x / r - self.omega * v, dr * v / r + self.omega * x, dz])


def test_torus_bifurcation_of_an_analytic_cycle():
    field = _TwistedCycle(mu=jnp.asarray(-0.3))
    branch = continue_orbit(
        field, "mu", -0.3, 0.2, jnp.array([1.0, 0.0, 0.0]), period=2 * np.pi, tol=1e-7
    )
    assert branch.stop_reason == "reached_stop"
    (event,) = branch.events
    assert event.kind == "torus"
    assert abs(event.value) <= 1e-7 and event.upper - event.lower <= 1e-7
    # At the crossing the pair is exp(±iν·2π) on the unit circle.
    assert abs(abs(event.multiplier) - 1) < 1e-6
    assert abs(abs(np.angle(event.multiplier)) - abs(np.angle(np.exp(2j * np.pi * 0.7)))) < 1e-6
    # Every point of the branch: T = 2π and the multipliers exactly exp((μ ± iν)·2π).
    mu = np.asarray(branch.levels)
    np.testing.assert_allclose(branch.analysis.orbit.period, 2 * np.pi, rtol=1e-10)
    mult = np.asarray(branch.analysis.spectrum.multipliers)
    pair = np.sort_complex(mult[np.abs(mult.imag) > 1e-3].reshape(len(mu), 2))
    expected = np.sort_complex(
        np.exp(np.outer(mu, [1, 1]) * 2 * np.pi + 2j * np.pi * 0.7 * np.array([-1, 1]))
    )
    np.testing.assert_allclose(pair, expected, atol=1e-9)


def test_rossler_period_doubling():
    # Rössler (a, b) = (0.2, 0.2): the period-1 cycle doubles at c ≈ 2.83 (the first step of its
    # period-doubling cascade).
    field = systems.Rossler(c=2.7)
    y0 = jnp.array([1.0, 1.0, 0.0])
    branch = continue_orbit(field, "c", 2.7, 2.95, y0, transient=100.0, tol=1e-6)
    (event,) = branch.events
    assert event.kind == "period_doubling"
    assert abs(event.value - 2.832) < 5e-3
    assert event.upper - event.lower <= 1e-6
    assert abs(event.multiplier + 1) < 1e-4

    # Independently: the real multiplier nearest −1, computed by `analyse_orbit` near the event,
    # is a smooth function of c; its secant root must agree with the bisection.
    def most_negative(c):
        a = satode.analyse_orbit(systems.Rossler(c=c), y0, transient=100.0)
        mu = np.asarray(a.spectrum.multipliers)
        return float(mu[np.argmin(mu.real)].real) + 1.0

    c0, c1 = event.value - 2e-3, event.value + 2e-3
    g0, g1 = most_negative(c0), most_negative(c1)
    assert g0 > 0 > g1
    root = c0 - g0 * (c1 - c0) / (g1 - g0)
    assert abs(root - event.value) < 2e-5
