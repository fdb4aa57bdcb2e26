"""Sweeps: vmap equals a loop, compile once per size, failing levels stay local."""

from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode import systems
from satode._sweep import _sweep_chunks


SHARED = Path(__file__).parents[1] / ".." / "shared"
Y0 = jnp.array([0.3, 0.1])
analyse = eqx.filter_jit(satode.analyse_orbit)


def test_vmap_sweep_equals_python_loop():
    levels = jnp.array([0.3, 0.5, 0.8, 1.0, 1.3, 1.7, 2.0, 2.5])
    result = satode.sweep(systems.StuartLandau(), levels, Y0, parameter="mu", warm_start=False)
    for i, mu in enumerate(levels):
        single = analyse(systems.StuartLandau(mu=mu), Y0, n_samples=2049)
        assert result.analysis.result._value[i] == single.result._value
        np.testing.assert_allclose(result.analysis.orbit.period[i], single.orbit.period, rtol=1e-10)
        np.testing.assert_allclose(
            result.analysis.spectrum.exponents[i], single.spectrum.exponents, rtol=0, atol=1e-10
        )


def test_warm_started_sweep_matches_analytic():
    levels = jnp.linspace(0.5, 2.0, 8)
    result = satode.sweep(systems.StuartLandau(), levels, Y0, parameter="mu", chunk_size=2)
    np.testing.assert_allclose(result.analysis.orbit.period, 2 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(result.analysis.spectrum.exponents[:, 1], -2 * levels, atol=1e-8)


def test_continued_strand_takes_one_solve_per_level():
    # One strand of 32 levels: the cold start searches, the next three shoot from short
    # histories, and from the fifth level on the cubic extrapolation of the Newton-refined orbit
    # points passes the closure test at once, so that solve is the level's only one.
    levels = jnp.linspace(1.0, 1.02, 32)
    field = systems.StuartLandau(beta=0.1)
    result = satode.sweep(field, levels, Y0, parameter="mu", chunk_size=1, n_samples=33)
    solves = np.asarray(result.solves)
    assert solves[0] >= 3 and np.all(solves[4:] == 1), solves
    period = 2 * np.pi / np.abs(1 - 0.1 * np.asarray(levels))
    np.testing.assert_allclose(result.analysis.orbit.period, period, rtol=1e-10)
    np.testing.assert_allclose(result.analysis.spectrum.exponents[:, 1], -2 * levels, atol=1e-8)


def test_level_without_cycle_is_local():
    levels = jnp.array([0.5, 1.0, -0.5, 1.5, -1.0, 2.0, 0.7, 1.2])
    result = satode.sweep(systems.StuartLandau(), levels, Y0, parameter="mu", chunk_size=4)
    status = np.asarray(result.analysis.result._value)
    no_orbit = satode.RESULTS.no_orbit._value
    np.testing.assert_array_equal(status == no_orbit, np.asarray(levels) < 0)
    ok = np.asarray(levels) > 0
    np.testing.assert_allclose(result.analysis.orbit.period[ok], 2 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(
        result.analysis.spectrum.exponents[ok, 1], -2 * np.asarray(levels)[ok], atol=1e-8
    )
    assert np.all(np.isnan(result.analysis.orbit.period[~ok]))


@pytest.mark.parametrize("n", [8, 64])
def test_compiles_once_per_size(n):
    field = systems.StuartLandau()
    before = eqx.debug.get_num_traces(_sweep_chunks)
    for offset in (0.0, 0.1, 0.2):
        levels = jnp.linspace(0.5 + offset, 1.5 + offset, n)
        satode.sweep(field, levels, Y0, parameter="mu", n_samples=33)
    assert eqx.debug.get_num_traces(_sweep_chunks) - before == 1


def test_mlp_sweep_bound_order_and_circle():
    mlp = satode.load_mlp(SHARED / "paper" / "paper_F_biased_256.npz")
    levels = jnp.array([1.0, 1.2, 1.4, 1.6])
    result = satode.sweep(mlp, levels, jnp.array([1.0, 0.0]), circle_radius=1.0, n_samples=513)
    a = result.analysis
    assert np.all(np.asarray(a.result._value) == 0)
    # |λ_i| <= C_emp <= C̃ <= C_theory on every orbit (the audit's own slack is 1e-9).
    lam = np.max(np.abs(np.asarray(a.spectrum.exponents)), axis=1)
    assert np.all(lam <= np.asarray(a.audit.c_empirical))
    assert np.all(np.asarray(a.audit.c_empirical) <= np.asarray(a.audit.c_refined))
    assert np.all(np.asarray(a.audit.c_refined) <= np.asarray(a.audit.c_theory))
    assert np.all(np.asarray(a.audit.rotation_ratio) >= 1)
    # The prescribed circle reproduces the paper's Table 2 at s = 1 (DOP853, rtol 1e-11).
    mu = np.sort(np.abs(np.asarray(a.curve.spectrum.multipliers[0])))
    np.testing.assert_allclose(mu, [2.3016279272924933e-05, 1.1782861912015496], rtol=1e-6)


def test_falling_periods_are_not_reported_as_multiples():
    # Stuart–Landau in ω: T = 2π/ω. Continued from ω = 0.25 (T = 8π) each level starts Newton
    # near a whole multiple of its own period (2, 4, 8 times it); it must report the period.
    omegas = jnp.array([0.25, 0.5, 1.0, 2.0])
    r = satode.sweep(systems.StuartLandau(), omegas, Y0, parameter="omega", n_samples=65)
    assert np.all(np.asarray(r.analysis.result._value) == satode.RESULTS.successful._value)
    np.testing.assert_allclose(r.analysis.orbit.period, 2 * np.pi / omegas, rtol=1e-9)
    np.testing.assert_allclose(r.analysis.spectrum.exponents[:, 1], -2.0, atol=1e-8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="levels"):
        satode.sweep(systems.StuartLandau(), jnp.array([]), Y0, parameter="mu")
    with pytest.raises(ValueError, match="finite"):
        satode.sweep(systems.StuartLandau(), jnp.array([1.0, jnp.nan]), Y0, parameter="mu")
    with pytest.raises(ValueError, match="not a field"):
        satode.sweep(systems.StuartLandau(), jnp.array([1.0]), Y0, parameter="gain")


def test_one_compilation_per_size_class():
    # 40 and 60 levels fall in one size class (4 strands, one block of 16 steps): no recompile.
    field = systems.StuartLandau()
    satode.sweep(field, jnp.linspace(0.5, 1.5, 40), Y0, parameter="mu", n_samples=33)
    before = eqx.debug.get_num_traces(_sweep_chunks)
    result = satode.sweep(field, jnp.linspace(0.6, 1.6, 60), Y0, parameter="mu", n_samples=33)
    assert eqx.debug.get_num_traces(_sweep_chunks) == before
    np.testing.assert_allclose(result.analysis.orbit.period, 2 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(
        result.analysis.spectrum.exponents[:, 1], -2 * np.linspace(0.6, 1.6, 60), atol=1e-8
    )
    # Continuation along the strands: after each strand's first level, one or two solves.
    assert float(np.mean(np.asarray(result.solves))) < 3


def test_float32_sweep():
    # float32 holds ~1e-7 relative: tolerances to match; exponents still right to ~1e-4.
    levels = jnp.linspace(0.5, 2.0, 8, dtype=jnp.float32)
    field = jax.tree.map(lambda x: x.astype(jnp.float32), systems.StuartLandau())
    result = satode.sweep(
        field,
        levels,
        Y0.astype(jnp.float32),
        parameter="mu",
        n_samples=33,
        options=satode.FlowOptions(solver=satode.Unrolled(dfx.Dopri5()), rtol=1e-6, atol=1e-8),
        shooting=satode.Shooting(rtol=1e-5, atol=1e-5, closure_tol=1e-4),
    )
    a = result.analysis
    assert a.orbit.period.dtype == jnp.float32
    assert np.all(np.asarray(a.result._value) == 0)
    np.testing.assert_allclose(a.orbit.period, 2 * np.pi, rtol=1e-5)
    np.testing.assert_allclose(a.spectrum.exponents[:, 1], -2 * np.asarray(levels), atol=1e-4)


def test_float32_sweep_is_ok_and_close_to_float64():
    """Precision modes: the quickstart network in float32 (float32-sized tolerances) finds every
    orbit, passes the (dtype-scaled) accuracy checks, and stays within float32's accuracy of
    the float64 sweep."""
    net = satode.load_mlp(Path(__file__).parent / "data" / "quickstart_network.npz")
    net32 = jax.tree.map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, net)
    gains = np.linspace(1.0, 1.2, 16)
    kw = dict(parameter="gain", n_samples=257)
    r64 = satode.sweep(net, jnp.asarray(gains), jnp.array([1.0, 0.0]), **kw)
    r32 = satode.sweep(
        net32,
        jnp.asarray(gains, jnp.float32),
        jnp.array([1.0, 0.0], jnp.float32),
        options=satode.FlowOptions(solver=satode.Unrolled(dfx.Dopri5()), rtol=1e-6, atol=1e-8),
        shooting=satode.Shooting(rtol=1e-5, atol=1e-5, closure_tol=1e-4),
        **kw,
    )
    assert r32.analysis.orbit.period.dtype == jnp.float32
    for r in (r64, r32):
        assert np.all(np.asarray(r.analysis.result._value) == satode.RESULTS.successful._value)
    np.testing.assert_allclose(r32.analysis.orbit.period, r64.analysis.orbit.period, rtol=1e-4)
    np.testing.assert_allclose(
        r32.analysis.spectrum.exponents, r64.analysis.spectrum.exponents, rtol=0, atol=1e-3
    )
