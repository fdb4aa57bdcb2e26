"""The paper's Illustrations A–F: formulas against an independent numpy/scipy implementation,
the printed numbers on the paper's own networks (`../shared/paper/`), and reduced versions of
every config run end to end (both column sets, the bound order on every row).

Where the paper's numbers are compared, the tolerance is set by how the paper computed them:
it evaluates σ' = sech² as `1 − tanh²`, whose absolute error is about one ulp of 1 (1.1e-16), so
tiny δ and C carry an absolute floor; its monodromy comes from DOP853 at rtol 1e-11.
"""

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

import satode
from satode._config import load_config
from satode._paper import (
    circle_columns,
    far_from_switching,
    probe_columns,
    run_study,
)
from satode._runner import flow_options, with_network


ROOT = Path(__file__).parents[1]
SHARED = ROOT / ".." / "shared"
PAPER = SHARED / "paper"
CONFIGS = ROOT / "configs"
OPTIONS = satode.FlowOptions(rtol=1e-12, atol=1e-14)


def _options(name):
    """The solver options of `configs/paper_<name>.toml` (so tests share its compiled code)."""
    return flow_options(load_config(CONFIGS / f"paper_{name}.toml").solver)


# The paper's 1 − tanh² is exact only to ~1 ulp of 1 (absolute), whatever the size of sech².
ULP = 2.3e-16


def _close(ours, paper, *, rtol, atol=0.0):
    ours, paper = np.asarray(ours, float), np.asarray(paper, float)
    excess = np.abs(ours - paper) - (atol + rtol * np.abs(paper))
    worst = int(np.argmax(excess)) if excess.ndim else 0
    assert np.all(excess <= 0), (
        f"ours {ours.ravel()[worst]!r} vs paper {paper.ravel()[worst]!r} at index {worst}"
    )


# --------------------------------------------------------------------------------------------
# An independent implementation of the paper's formulas (numpy/scipy, written from SCIENCE.md)
# --------------------------------------------------------------------------------------------


def _np_net(width=5, seed=3):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.8, (width, 2))
    b1 = rng.normal(0, 0.4, width)
    w2 = rng.normal(0, 0.8, (2, width))
    b2 = rng.normal(0, 0.1, 2)
    return w1, b1, w2, b2


def _np_jac(net, h, s):
    w1, b1, w2, _ = net
    d = 1.0 / np.cosh(s * (w1 @ h + b1)) ** 2
    return w2 @ np.diag(d) @ (s * w1), d


def test_formulas_match_an_independent_numpy_scipy_implementation():
    net = _np_net()
    w1, b1, w2, b2 = net
    mlp = satode.SaturatingMLP([w1, w2], [b1, b2])
    n, h = 64, np.array([0.6, -0.9])
    gains = [0.7, 1.9]
    ours = circle_columns(mlp, "gain", gains, 1.0, n, OPTIONS)
    probe = probe_columns(mlp, "gain", gains, h)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([np.cos(t), np.sin(t)], -1)
    for s, row, p in zip(gains, ours, probe, strict=True):
        c_w = np.linalg.norm(w2, 2) * np.linalg.norm(s * w1, 2)
        jacs = [_np_jac(net, y, s) for y in pts]
        delta = max(d.max() for _, d in jacs)
        c_emp = max(np.linalg.norm(j, 2) for j, _ in jacs)
        c_ref = max(
            np.linalg.norm(w2 * np.sqrt(d)[None], 2)
            * np.linalg.norm(np.sqrt(d)[:, None] * s * w1, 2)
            for _, d in jacs
        )

        def rhs(tt, phi, s=s):
            j, _ = _np_jac(net, np.array([np.cos(tt), np.sin(tt)]), s)
            return (j @ phi.reshape(2, 2)).ravel()

        sol = solve_ivp(rhs, [0, 2 * np.pi], np.eye(2).ravel(), "DOP853", rtol=1e-13, atol=1e-15)
        mu = np.sort(np.abs(np.linalg.eigvals(sol.y[:, -1].reshape(2, 2))))
        trace = quad(
            lambda tt, s=s: np.trace(_np_jac(net, np.array([np.cos(tt), np.sin(tt)]), s)[0]),
            0,
            2 * np.pi,
            epsabs=1e-13,
            epsrel=1e-12,
            limit=200,
        )[0]
        # Both sides are exact to rounding (norms, sech²) or to integrator tolerances ~1e-12.
        tol = 1e-9
        _close(row["circle_delta_sampled_1"], delta, rtol=tol)
        _close(row["circle_c_w"], c_w, rtol=tol)
        _close(row["circle_c_sampled_bound"], c_w * delta, rtol=tol)
        _close(row["circle_c_empirical"], c_emp, rtol=tol)
        _close(row["circle_c_refined"], c_ref, rtol=tol)
        _close([row["circle_multiplier_abs_1"], row["circle_multiplier_abs_2"]], mu, rtol=tol)
        _close(row["circle_trace_integral"], trace, rtol=tol)
        # At a point: ‖Df(h)‖, C̃(h), C_W δ(h).
        j, d = _np_jac(net, h, s)
        _close(p["probe_c_empirical"], np.linalg.norm(j, 2), rtol=tol)
        _close(p["probe_delta_1"], d.max(), rtol=tol)
        _close(p["probe_c_theory"], c_w * d.max(), rtol=tol)
        ref_h = np.linalg.norm(w2 * np.sqrt(d)[None], 2) * np.linalg.norm(
            np.sqrt(d)[:, None] * s * w1, 2
        )
        _close(p["probe_c_refined"], ref_h, rtol=tol)
        # The rigorous δ (peaks between samples included) can only be larger than the sampled.
        assert row["circle_delta_1"] >= row["circle_delta_sampled_1"]
        assert row["circle_contained"] and p["probe_contained"]


def test_illustration_D_stuart_landau_reference():
    sl = satode.systems.StuartLandau(mu=1.0, omega=1.0, beta=0.0)
    (row,) = circle_columns(sl, "mu", [1.0], 1.0, 1000, _options("D"))
    # tr Df = −2 on the circle: the integral is exact up to the integrator's rounding.
    assert abs(row["circle_trace_integral"] + 4 * np.pi) < 1e-10
    det = row["circle_multiplier_abs_1"] * row["circle_multiplier_abs_2"]
    assert abs(det / math.exp(-4 * np.pi) - 1) < 1e-9
    # ‖Df‖ = 1 + √2 at every point of the circle (rotation symmetry): rounding only.
    assert abs(row["circle_c_empirical"] - (1 + math.sqrt(2))) < 1e-13
    assert 2 * row["circle_c_empirical"] * 2 * np.pi >= 4 * np.pi
    assert row["circle_contained"]


# --------------------------------------------------------------------------------------------
# The printed numbers on the paper's own networks
# --------------------------------------------------------------------------------------------


def test_illustration_A_arrays_on_the_paper_network():
    ref = np.load(PAPER / "paper_A_results.npz")
    mlp = satode.load_mlp(PAPER / "paper_A_unbiased_32.npz")
    s = ref["s"]
    _close(load_config(CONFIGS / "paper_A.toml").levels, s, rtol=1e-14)  # the config's gains
    probe = probe_columns(mlp, "gain", s, [0.8, 0.4])
    circ = circle_columns(mlp, "gain", s, 1.0, 400, _options("A"))
    c_w = np.array([p["probe_c_w"] for p in probe])
    _close(c_w, ref["CW"], rtol=1e-12)
    _close([p["probe_c_empirical"] for p in probe], ref["actual_norm"], rtol=1e-10, atol=ULP * c_w)
    _close([p["probe_delta_1"] for p in probe], ref["delta"], rtol=1e-10, atol=ULP)
    _close([p["probe_c_theory"] for p in probe], ref["bound"], rtol=1e-10, atol=ULP * c_w)
    _close([c["circle_c_empirical"] for c in circ], ref["orbit_norm_max"], rtol=1e-10)
    _close([c["circle_c_sampled_bound"] for c in circ], ref["orbit_bound_max"], rtol=1e-10)
    assert all(p["probe_contained"] for p in probe) and all(c["circle_contained"] for c in circ)


def test_illustration_B_arrays_on_the_paper_network():
    ref = np.load(PAPER / "paper_B_results.npz")
    mlp = satode.load_mlp(PAPER / "paper_A_unbiased_32.npz")
    row_norm = np.max(np.linalg.norm(np.asarray(mlp.weights[0]), axis=1))
    config = load_config(CONFIGS / "paper_B.toml")
    _close(np.array(config.paper["series_values"]) * row_norm, ref["offsets"], rtol=1e-14)
    _close(config.levels, ref["s"], rtol=1e-14)
    for i, c in enumerate(ref["offsets"]):
        shifted = satode.at_level(mlp, "shift", c)
        circ = circle_columns(shifted, "gain", ref["s"], 1.0, 500, _options("B"))
        ours = np.array([r["circle_c_empirical"] for r in circ])
        c_w = np.array([r["circle_c_w"] for r in circ])
        _close(ours, ref[f"C_{i}"], rtol=1e-10, atol=ULP * c_w)
        _close(2 * ours * 2 * np.pi, ref[f"bound_{i}"], rtol=1e-10, atol=4 * np.pi * ULP * c_w)
        # c = 0 crosses zero on the circle (no decay); c ≥ max row norm does not.
        assert all(r["circle_zero_crossing_1"] == (i == 0) for r in circ)


def test_illustration_E_table_3_on_the_paper_network():
    ref = np.load(PAPER / "paper_E_results.npz")
    mlp = satode.load_mlp(PAPER / "paper_E_32.npz")
    h = far_from_switching(mlp, (0.5, 2.0, 20), 10000)
    _close(h, ref["h_star"], rtol=0, atol=1e-15)  # the same grid point as the paper's loop
    probe = probe_columns(mlp, "gain", ref["s"], h)
    c_w = np.array([p["probe_c_w"] for p in probe])
    _close([p["probe_c_empirical"] for p in probe], ref["actual"], rtol=1e-10, atol=ULP * c_w)
    _close([p["probe_c_refined"] for p in probe], ref["refined"], rtol=1e-10, atol=ULP * c_w)
    _close([p["probe_c_theory"] for p in probe], ref["original"], rtol=1e-10, atol=ULP * c_w)
    _close([p["probe_delta_1"] for p in probe], ref["delta"], rtol=1e-10, atol=ULP)
    # The printed Table 3 (3 decimals).
    printed = {1.0: (1.612, 2.125, 2.482, 0.993), 30.0: (0.210, 0.219, 1.980, 0.026)}
    for p, s in zip(probe, ref["s"], strict=True):
        if s in printed:
            got = (p["probe_c_empirical"], p["probe_c_refined"], p["probe_c_theory"])
            _close(got + (p["probe_delta_1"],), printed[s], rtol=0, atol=5e-4)


def test_illustration_F_table_2_on_the_paper_network():
    table = json.loads((PAPER / "paper_F_table.json").read_text())
    mlp = satode.load_mlp(PAPER / "paper_F_biased_256.npz")
    s = [r["s"] for r in table]
    circ = circle_columns(mlp, "gain", s, 1.0, 1000, _options("F"))
    for ours, ref in zip(circ, table, strict=True):
        c_w = ours["circle_c_w"]
        _close(ours["circle_delta_sampled_1"], ref["delta"], rtol=1e-9, atol=ULP)
        _close(ours["circle_c_empirical"], ref["C_U"], rtol=1e-9, atol=ULP * c_w)
        # DOP853 at rtol 1e-11 on the paper's side; ln|μ| compared (|μ| → 1 at large s).
        for k, key in ((1, "mu1"), (2, "mu2")):
            _close(
                math.log(ours[f"circle_multiplier_abs_{k}"]),
                math.log(ref[key]),
                rtol=1e-7,
                atol=1e-9,
            )
        c_t = ours["circle_c_empirical"] * 2 * np.pi
        _close([math.exp(-c_t), math.exp(c_t)], [ref["lower"], ref["upper"]], rtol=1e-8, atol=1e-12)
        assert ours["circle_contained"]


# --------------------------------------------------------------------------------------------
# Reduced versions of every config, end to end (both column sets, bound order on every row)
# --------------------------------------------------------------------------------------------


def _reduced(name, levels, network=None, *, paper=None, **fit):
    """`configs/paper_<name>.toml` at a few levels, with cold searches (one compiled program
    per sweep instead of two: the tests' cost is compilation)."""
    config = load_config(CONFIGS / f"paper_{name}.toml")
    if network is not None:
        config = with_network(config, PAPER / network)
    raw = copy.deepcopy(config.raw)
    raw["sweep"].update(levels=list(levels), warm_start=False)
    changes = dict(raw=raw, levels=list(levels), sweep=dict(config.sweep, warm_start=False))
    if fit:
        raw["network"]["fit"].update(fit)
        changes["fit"] = dict(config.fit, **fit)
    if paper:
        changes["paper"] = dict(config.paper, **paper)
    return dataclasses.replace(config, **changes)


def _check_rows(rows):
    for r in rows:
        for key in ("circle_contained", "probe_contained"):
            if key in r:
                assert r[key] is True, (key, r["level"])
        if r["status"] == "ok":
            assert r["contained"] is True, r["level"]
            assert r["rotation_ratio"] >= 1  # a planar cycle turns once (SCIENCE §7)


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """Reduced configs: two levels each (A, B, E share one compiled sweep; C and F another)."""
    out = tmp_path_factory.mktemp("paper")
    runs = {
        "A": _reduced("A", [1.0, 4.0], "paper_A_unbiased_32.npz"),
        "B": _reduced("B", [1.0, 4.0], "paper_A_unbiased_32.npz"),
        "E": _reduced("E", [1.0, 30.0], "paper_E_32.npz"),
        "F": _reduced("F", [1.0, 2.0], "paper_F_biased_256.npz"),
        # C at F's circle size, so C and F share their compiled circle code.
        "C": _reduced(
            "C",
            [1.0, 4.0],
            "paper_F_biased_256.npz",
            paper=dict(circle_points=1000, portraits=[1.0, 4.0], portrait_time=[5.0, 5.0]),
        ),
        "D": _reduced("D", [0.5, 1.0]),
    }
    return {k: (run_study(c, out / k, progress=False), out / k) for k, c in runs.items()}


@pytest.mark.parametrize("name", ["A", "B", "C", "D", "E", "F"])
def test_reduced_config_tables(reduced, name):
    rows, out = reduced[name]
    _check_rows(rows)
    text = (out / "tables.md").read_text()
    assert "‖" in text and "∘" in text  # the circle column set beside the true-orbit set
    assert (out / "paper.csv").is_file() and (out / "study.json").is_file()
    study = json.loads((out / "study.json").read_text())
    for fig in study["figures"]:
        assert (out / fig).stat().st_size > 10_000


def test_reduced_F_reproduces_table_2_and_finds_the_orbit(reduced):
    rows, _ = reduced["F"]
    table = {r["s"]: r for r in json.loads((PAPER / "paper_F_table.json").read_text())}
    for r in rows:
        ref = table[r["level"]]
        _close(r["circle_multiplier_abs_1"], ref["mu1"], rtol=1e-7)
        _close(r["circle_multiplier_abs_2"], ref["mu2"], rtol=1e-7)
        _close(r["circle_c_empirical"], ref["C_U"], rtol=1e-9)
    # The network's own orbit at s = 1 is not the unit circle: its period and its multipliers
    # differ from the circle's (which has no multiplier 1 at all: |μ2|∘ = 1.178).
    one = rows[0]
    assert one["status"] == "ok"
    assert abs(one["period"] - 2 * np.pi) > 1e-3
    assert one["circle_orbit_gap"] > 0.1
    assert abs(one["trivial_multiplier_error"]) < 1e-5


def test_reduced_B_series_and_D_true_orbit(reduced):
    rows, _ = reduced["B"]
    mlp = satode.load_mlp(PAPER / "paper_A_unbiased_32.npz")
    unit = np.max(np.linalg.norm(np.asarray(mlp.weights[0]), axis=1))
    _close(sorted({r["series_shift"] for r in rows}), np.array([0, 1.5, 3, 6]) * unit, rtol=1e-14)
    rows, _ = reduced["D"]
    one = next(r for r in rows if r["level"] == 1.0)
    assert one["status"] == "ok"
    _close(one["period"], 2 * np.pi, rtol=1e-9)
    _close(one["exponent_2"], -2.0, rtol=1e-8)  # exponents {0, −2μ}
    _close(one["c_empirical"], 1 + math.sqrt(2), rtol=1e-9)  # the cycle is the unit circle
    half = next(r for r in rows if r["level"] == 0.5)
    _close(half["exponent_2"], -1.0, rtol=1e-8)
    # μ = 1/2: the unit circle is not the cycle, and its trace integral is not T·λ.
    assert abs(half["circle_trace_integral"] - half["period"] * half["exponent_2"]) > 1


def test_reduced_beyond_grid(tmp_path):
    # One member sized like Illustration A's network and sweep (so it reuses that compiled
    # sweep); the depths and activations of the full grid run in benchmarks/paper_tables.py.
    config = load_config(CONFIGS / "paper_beyond.toml")
    a = _reduced("A", [1.0, 4.0])
    raw = copy.deepcopy(config.raw)
    member = dict(depth=[1], activation=["tanh"], width=[32], saturation=["gain"])
    grid = dict(config.grid, **member, gain_levels=[1.0, 4.0])
    raw["grid"].update(member, gain_levels=[1.0, 4.0])
    fit = dict(config.fit, steps=300)
    raw["network"]["fit"]["steps"] = 300
    raw["sweep"] = a.raw["sweep"]
    raw["solver"] = a.raw["solver"]
    config = dataclasses.replace(
        config, raw=raw, grid=grid, fit=fit, sweep=a.sweep, solver=a.solver
    )
    rows = run_study(config, tmp_path, progress=False)
    assert len(rows) == 2 and {r["member"] for r in rows} == {"depth1-activationtanh-width32-gain"}
    _check_rows(rows)
    net = satode.load_mlp(next((tmp_path / "networks").glob("*.npz")))
    assert net.width == (32,) and net.activation == "tanh"
    text = (tmp_path / "tables.md").read_text()
    assert "tanh" in text and "collapse at" in text
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(summary) == 2


def test_with_network_errors(tmp_path):
    d = load_config(CONFIGS / "paper_D.toml")
    with pytest.raises(satode.InputError, match="--network"):
        with_network(d, PAPER / "paper_E_32.npz")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (CONFIGS / "paper_F.toml").read_text().replace('illustration = "F"', 'illustration = "G"')
    )
    with pytest.raises(satode.InputError, match="paper.illustration"):
        load_config(bad)
    bad.write_text(
        (CONFIGS / "paper_B.toml")
        .read_text()
        .replace('series_unit = "w1_max_row_norm"', 'series_unit = "furlong"')
    )
    with pytest.raises(satode.InputError, match="paper.series_unit"):
        load_config(bad)


def test_configs_load():
    for name in "ABCDEF":
        c = load_config(CONFIGS / f"paper_{name}.toml")
        assert c.paper["illustration"] == name
    beyond = load_config(CONFIGS / "paper_beyond.toml")
    assert beyond.grid["depth"] == [1, 2, 3]
    assert set(beyond.grid["activation"]) == {
        "tanh",
        "sigmoid",
        "softsign",
        "softplus",
        "silu",
        "sin",
    }
