"""Lyapunov spectra: literature (Lorenz), analytic (x' = −x, equilibria), Floquet (Van der Pol)."""

import json
import warnings
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode


SHARED = next(
    p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()
)
REFERENCE = json.loads((SHARED / "reference" / "reference.json").read_text())
FLOQUET = {entry["name"]: entry for entry in REFERENCE["floquet"]}


def _decay(t, y, args):
    return -y


def test_lorenz_literature_spectrum():
    # The statistical error of a finite-time λ_1 is ~0.1/sqrt(T) here (stderr 3e-3 at T = 2000),
    # so T = 2000 is the shortest run whose 0.01 tolerance is >= 3 standard errors; shorter
    # runs pass only by luck. rtol 1e-9 keeps the integration error (~1e-9 on the exact sum)
    # far below that and below the 1e-6 sum tolerance, at ~40% of the cost of rtol 1e-11.
    ref = next(e for e in REFERENCE["lyapunov"] if e["name"] == "lorenz")
    system = satode.systems.Lorenz(**ref["params"])
    spec = satode.lyapunov_spectrum(
        system,
        jnp.ones(3),
        t_total=2000.0,
        renorm_interval=0.5,
        transient=50.0,
        options=satode.FlowOptions(rtol=1e-9, atol=1e-10),
    )
    assert spec.result == satode.RESULTS.successful
    expected = np.asarray(ref["exponents"])
    error = np.abs(np.asarray(spec.exponents) - expected)
    assert np.all(error <= np.array([0.01, 0.005, 0.01])), (spec.exponents, spec.stderr)
    # The batch-means standard error covers the error: within 4 stderr, plus 1e-4 for the
    # literature values' own precision (4 decimals). With 10 batches the standardised error is
    # ~t with 9 degrees of freedom: |t| > 3 has probability 1.5% per exponent, |t| > 4 0.3%.
    # Over 8 starting points the largest was 3.4 stderr (this one, λ_3), the median 0.4.
    assert np.all(error <= 4 * np.asarray(spec.stderr) + 1e-4), (error, spec.stderr)
    # tr Df = −(σ + 1 + β) is constant, and Σ ln R_ii = ln|det Φ| per interval: the sum is exact
    # up to the integration tolerance.
    trace = -(system.sigma + 1 + system.beta)
    assert abs(spec.sum - trace) < 1e-6
    np.testing.assert_allclose(spec.history[-1], spec.exponents, rtol=1e-12)
    assert spec.samples.shape == (4001, 3) and spec.history.shape == (4000, 3)
    np.testing.assert_allclose(spec.times[-1], 2050.0, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(spec.sample_times)[[0, -1]], [50.0, 2050.0], rtol=1e-14)
    np.testing.assert_allclose(spec.final_state, spec.samples[-1], rtol=0)
    # The final tangent vectors stay orthonormal.
    q = spec.final_vectors
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-13)


def test_linear_decay_survives_underflow():
    # x' = −x: every exponent is −1 exactly. The state decays ~300 orders of magnitude (to the
    # bottom of float64's normal range), but Q restarts orthonormal each interval and logs are
    # taken per interval, so nothing underflows (measured error 2e-13).
    spec = satode.lyapunov_spectrum(_decay, jnp.array([1.0, 2.0]), t_total=1000.0)
    assert spec.result == satode.RESULTS.successful
    assert jnp.all(jnp.abs(spec.final_state) < 1e-200)
    np.testing.assert_allclose(spec.exponents, [-1.0, -1.0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(spec.stderr, 0.0, atol=1e-8)


def test_van_der_pol_equals_floquet():
    # On a stable cycle the Lyapunov spectrum is the Floquet spectrum. Averaging over a whole
    # number of periods removes the O(1/T) phase term (|f| varies along the cycle), so the match
    # is to the integration tolerance (measured 5e-13); 1e-3 is the requirement.
    ref = FLOQUET["van_der_pol_m1"]
    period = ref["period"]
    vdp = satode.systems.VanDerPol(mu=1.0)
    spec = satode.lyapunov_spectrum(
        vdp,
        jnp.array([2.0, 0.0]),
        t_total=30 * period,
        renorm_interval=period / 8,
        transient=50.0,
    )
    np.testing.assert_allclose(spec.exponents, ref["exponents"], rtol=0, atol=1e-3)
    # A partial spectrum follows the same first tangent vector: only step sizes differ (the
    # error norm sees k columns), at the integration tolerance.
    first = satode.lyapunov_spectrum(
        vdp,
        jnp.array([2.0, 0.0]),
        t_total=30 * period,
        renorm_interval=period / 8,
        transient=50.0,
        k=1,
    )
    assert first.exponents.shape == (1,) and first.final_vectors.shape == (2, 1)
    np.testing.assert_allclose(first.exponents[0], spec.exponents[0], rtol=0, atol=1e-10)


def test_vmap_equals_loop():
    # Short runs: over long ones chaos amplifies the last-bit differences between batched and
    # unbatched arithmetic (1e-9 after t = 20), which says nothing about the code.
    def one(rho):
        system = satode.systems.Lorenz(rho=rho)
        return satode.lyapunov_spectrum(
            system, jnp.ones(3), t_total=10.0, renorm_interval=0.5, transient=1.0, throw=False
        )

    rhos = jnp.linspace(24.0, 32.0, 8)
    batched = jax.jit(jax.vmap(one))(rhos)
    single = jax.jit(one)
    loop = [single(rho) for rho in rhos]
    for i, spec in enumerate(loop):
        np.testing.assert_allclose(batched.exponents[i], spec.exponents, rtol=0, atol=1e-10)
        np.testing.assert_allclose(batched.stderr[i], spec.stderr, rtol=0, atol=1e-10)
        assert batched.result._value[i] == spec.result._value


def test_float32_warns():
    lorenz = satode.systems.Lorenz()
    y0 = jnp.ones(3, jnp.float32)
    # float32 cannot meet the float64 default tolerances.
    options = satode.FlowOptions(rtol=1e-5, atol=1e-6)
    # max|eig Df(1, 1, 1)| = 22.5: a unit interval (22.5 > ½ ln(1/eps_32) ≈ 8) warns...
    with pytest.warns(UserWarning, match="lose orthogonality"):
        spec = satode.lyapunov_spectrum(
            lorenz, y0, t_total=2.0, renorm_interval=1.0, n_batches=2, options=options
        )
    assert spec.exponents.dtype == jnp.float32 and spec.samples.dtype == jnp.float32
    # ...and a short one (2.25) does not.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        satode.lyapunov_spectrum(
            lorenz, y0, t_total=0.2, renorm_interval=0.1, n_batches=2, options=options
        )


def test_mlp_trajectory_audit():
    # A random tanh network (no biases) whose origin is a stable node: the exponents are the
    # eigenvalues of Df(0), and the audit over the trajectory must order |λ| <= C_emp <= C.
    mlp = satode.SaturatingMLP.random(jax.random.key(3), 2, 16, weight_std=1.0)
    spec = satode.lyapunov_spectrum(
        mlp, jnp.array([0.5, 0.5]), t_total=50.0, renorm_interval=0.5, transient=10.0
    )
    eigs = np.sort(np.linalg.eigvals(np.asarray(mlp.jacobian(jnp.zeros(2)))).real)[::-1]
    # The state is ~1e-10 after the transient: the linearisation is exact to far below 1e-6.
    np.testing.assert_allclose(spec.exponents, eigs, rtol=0, atol=1e-6)
    audit = satode.lyapunov_audit(mlp, spec.samples, spec.exponents)
    assert bool(audit.contained)
    assert audit.max_abs_exponent <= audit.c_empirical <= audit.c_theory
    assert audit.delta.shape == (1,)
    assert jnp.isnan(audit.rotation_ratio)


def test_max_steps_status():
    tight = satode.FlowOptions(max_steps=2)
    spec = satode.lyapunov_spectrum(
        _decay, jnp.ones(2), t_total=4.0, n_batches=2, options=tight, throw=False
    )
    assert spec.result == satode.RESULTS.max_steps
    with pytest.raises(eqx.EquinoxRuntimeError, match="Lyapunov spectrum failed"):
        satode.lyapunov_spectrum(_decay, jnp.ones(2), t_total=4.0, n_batches=2, options=tight)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"k": 3}, "k"),
        ({"k": 0}, "k"),
        ({"t_total": -1.0}, "t_total"),
        ({"renorm_interval": 0.0}, "renorm_interval"),
        ({"transient": -1.0}, "transient"),
        ({"n_batches": 20}, "n_batches"),
        ({"n_batches": 1}, "n_batches"),
    ],
)
def test_bad_arguments(kwargs, name):
    options = {"t_total": 10.0} | kwargs
    with pytest.raises(ValueError, match=name):
        satode.lyapunov_spectrum(_decay, jnp.ones(2), **options)
    with pytest.raises(ValueError, match="y0"):
        satode.lyapunov_spectrum(_decay, jnp.ones((2, 2)), t_total=10.0)


def test_dense_samples_follow_the_trajectory():
    # samples_per_interval > 1 keeps dense-output states inside each interval; they are the
    # trajectory itself (checked against a direct solve; 1e-7: dense output of Dopri8 at the
    # default rtol 1e-11 over an O(1) state).
    vdp = satode.systems.VanDerPol(mu=1.0)
    spec = satode.lyapunov_spectrum(
        vdp,
        jnp.array([2.0, 0.0]),
        t_total=4.0,
        renorm_interval=1.0,
        transient=1.0,
        n_batches=2,
        samples_per_interval=4,
    )
    assert spec.samples.shape == (17, 2)
    np.testing.assert_allclose(spec.sample_times, 1.0 + 0.25 * np.arange(17), rtol=1e-14)
    ts = np.asarray(spec.sample_times)
    direct = satode.integrate(vdp, jnp.array([2.0, 0.0]), 5.0, saveat=diffrax.SaveAt(ts=ts))
    np.testing.assert_allclose(spec.samples, direct.ys, rtol=0, atol=1e-7)
    # The last dense sample is the interval's end (interpolated there: equal to rounding).
    np.testing.assert_allclose(spec.final_state, spec.samples[-1], rtol=0, atol=1e-14)


def _one_unit_mlp():
    # f(x, y) = (tanh(x), 0): the only pre-activation is x itself.
    return satode.SaturatingMLP(
        [jnp.array([[1.0, 0.0]]), jnp.array([[1.0], [0.0]])], [jnp.zeros(1), jnp.zeros(2)]
    )


def test_audit_along_an_open_path():
    # A trajectory is an open path: the audit must see a zero crossing between two samples
    # (tanh' peaks there, δ = 1) and none where the path stays on one side, whatever the
    # first and last samples are.
    mlp = _one_unit_mlp()
    through = jnp.array([[-1.0, 0.0], [1.0, 0.0]])
    audit = satode.lyapunov_audit(mlp, through, jnp.array([0.1, 0.0]))
    assert bool(audit.zero_crossing[0]) and float(audit.delta[0]) == 1.0
    # C_emp is sampled, δ is not: C_theory = C_W · 1 here while max ‖Df‖ over samples is tanh'(1).
    sech2 = 1 / np.cosh(1.0) ** 2
    np.testing.assert_allclose(audit.c_empirical, sech2, rtol=1e-12)
    np.testing.assert_allclose(audit.c_theory, 1.0, rtol=1e-12)
    one_side = jnp.array([[1.0, 0.0], [2.0, 0.0], [1.5, 0.0]])
    audit = satode.lyapunov_audit(mlp, one_side, jnp.array([0.1, 0.0]))
    assert not bool(audit.zero_crossing[0])
    np.testing.assert_allclose(audit.delta[0], sech2, rtol=1e-12)
    assert bool(audit.contained)
    # An exponent beyond C_emp breaks the order: the check can fail.
    assert not bool(satode.lyapunov_audit(mlp, one_side, jnp.array([0.5, 0.0])).contained)


def test_sample_box():
    box = [(-20.0, 20.0), (-27.0, 27.0), (0.0, 50.0)]
    xs = satode.sample_box(jax.random.key(0), 4000, box)
    lo, hi = np.array(box).T
    assert xs.shape == (4000, 3) and np.all(xs >= lo) and np.all(xs <= hi)
    # Uniform: each coordinate's mean is the interval's midpoint (4000 samples: ~3% of width).
    np.testing.assert_allclose(xs.mean(0), (lo + hi) / 2, atol=0.03 * (hi - lo).max())
    for bad in ([(1.0, 0.0)], [(0.0, np.inf)], [[0.0, 1.0, 2.0]]):
        with pytest.raises(ValueError, match="box"):
            satode.sample_box(jax.random.key(0), 10, bad)


def test_fixed_step_spectrum():
    # FlowOptions(dt=…): fixed Dopri8 steps, shortened to a whole number per interval
    # (0.5 / 0.03 → 17 steps of 0.0294…): exactly 17 fit in max_steps=17, 16 do not.
    lorenz = satode.systems.Lorenz()
    kwargs = dict(t_total=200.0, renorm_interval=0.5, transient=10.0, throw=False)
    spec = satode.lyapunov_spectrum(
        lorenz, jnp.ones(3), options=satode.FlowOptions(dt=0.03, max_steps=17), **kwargs
    )
    assert spec.result == satode.RESULTS.successful
    # No error control, but Dopri8 at this step keeps the exact Liouville sum to ~5e-8.
    assert abs(spec.sum + (10.0 + 1.0 + 8.0 / 3.0)) < 1e-6
    assert abs(spec.exponents[0] - 0.9056) < 0.05 and abs(spec.exponents[1]) < 0.02
    short = satode.lyapunov_spectrum(
        lorenz, jnp.ones(3), options=satode.FlowOptions(dt=0.03, max_steps=16), **kwargs
    )
    assert short.result == satode.RESULTS.max_steps
    # x' = −x with fixed steps: still −1 to the method's (tiny) truncation error.
    decay = satode.lyapunov_spectrum(
        _decay, jnp.array([1.0, 2.0]), t_total=100.0, options=satode.FlowOptions(dt=0.1)
    )
    np.testing.assert_allclose(decay.exponents, [-1.0, -1.0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(3, 3), (5, 2), (8, 8), (12, 9)])
@pytest.mark.parametrize("scale", [1.0, 1e-300, 1e300])
def test_orthonormalise_matches_lapack(shape, scale):
    """The QR step (Gram–Schmidt twice up to 8 columns, LAPACK above) against numpy's QR:
    orthonormal Q, the same ln R_jj, A = Q R, at any scale a float can hold."""
    from satode._linalg import orthonormalise

    a = np.random.default_rng(0).normal(size=shape)
    q, log_r = orthonormalise(jnp.asarray(a * scale))
    q = np.asarray(q)
    _, r = np.linalg.qr(a)
    np.testing.assert_allclose(q.T @ q, np.eye(shape[1]), atol=1e-15)
    np.testing.assert_allclose(log_r, np.log(np.abs(np.diag(r))) + np.log(scale), atol=1e-13)
    np.testing.assert_allclose(q @ np.triu(q.T @ a), a, atol=1e-14)


def test_orthonormalise_vanished_column():
    from satode._linalg import orthonormalise

    q, log_r = orthonormalise(jnp.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(log_r, [0.0, -np.inf])
    np.testing.assert_array_equal(q, [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("shape", [(5, 3), (12, 10)])
def test_orthonormalise_graded_columns(shape):
    """Columns 1e400 apart in size (both QR paths): every ln R_jj in full, Q unchanged."""
    from satode._linalg import orthonormalise

    a = np.random.default_rng(1).normal(size=shape)
    exponents = np.where(np.arange(shape[1]) % 2 == 0, 200.0, -200.0)
    q, log_r = orthonormalise(jnp.asarray(a * 10.0**exponents))
    q_ref, r = np.linalg.qr(a)
    np.testing.assert_allclose(
        log_r, np.log(np.abs(np.diag(r))) + exponents * np.log(10.0), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(np.abs(q), np.abs(q_ref), rtol=0, atol=1e-13)


def _linear(t, y, a):
    return a @ y


@pytest.mark.parametrize(
    "a, renorm_interval",
    [([[-50.0]], 1.0), ([[-50.0]], 5.0), ([[-1.0]], 30.0), ([[5.0, 0.0], [0.0, -40.0]], 0.25)],
)
def test_strongly_contracting_vectors_keep_their_rate(a, renorm_interval):
    # A tangent vector that shrinks by far more than atol/rtol over one interval (e^-10 to
    # e^-250) is sized up first, so error control holds it to rtol (started at unit size it
    # was held only to atol: x' = −50x over Δ = 1 gave −30.6).
    a = jnp.asarray(a)
    spec = satode.lyapunov_spectrum(
        _linear,
        jnp.ones(a.shape[0]),
        a,
        t_total=20 * renorm_interval,
        renorm_interval=renorm_interval,
        n_batches=2,
    )
    exact = np.sort(np.diag(np.asarray(a)))[::-1]
    np.testing.assert_allclose(spec.exponents, exact, rtol=1e-10, atol=0)


def test_nonfinite_start_is_reported_at_once():
    nan_state = jnp.array([jnp.nan, 1.0, 1.0])
    spec = satode.lyapunov_spectrum(satode.systems.Lorenz(), nan_state, t_total=10.0, throw=False)
    assert spec.result == satode.RESULTS.nonfinite
    nan_field = satode.systems.Lorenz(rho=jnp.nan)
    spec = satode.lyapunov_spectrum(nan_field, jnp.ones(3), t_total=10.0, throw=False)
    assert spec.result == satode.RESULTS.nonfinite
    assert bool(jnp.all(jnp.isnan(spec.exponents)))


def test_float64_warns_when_the_interval_is_too_long():
    # Lorenz's spread λ1 − λ3 ≈ 15.5 per unit time: over Δ = 3 (46 > ½ ln(1/eps) = 18) the
    # third vector is lost in the rounding of the first (λ3 ≈ −12, not −14.6)...
    lorenz = satode.systems.Lorenz()
    with pytest.warns(UserWarning, match="float64.*lose orthogonality"):
        satode.lyapunov_spectrum(lorenz, jnp.ones(3), t_total=30.0, renorm_interval=3.0)
    # ...over Δ = 0.5 (7.8) it is not.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        satode.lyapunov_spectrum(lorenz, jnp.ones(3), t_total=10.0, renorm_interval=0.5)
