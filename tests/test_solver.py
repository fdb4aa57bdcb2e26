"""`satode.Unrolled`: diffrax's explicit Runge–Kutta steps with the stages unrolled give
diffrax's numbers (to rounding), adaptive and fixed-step, dense output, AD and vmap included."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode import Unrolled
from satode._flow import variational_flow


def _van_der_pol(t, y, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def _solve(solver, controller, mu=1.0, y0=(2.0, 0.0), saveat=None, dt0=0.05):
    saveat = saveat or dfx.SaveAt(ts=jnp.linspace(0.0, 7.3, 11))
    return dfx.diffeqsolve(
        dfx.ODETerm(_van_der_pol),
        solver,
        0.0,
        7.3,
        dt0,
        jnp.asarray(y0),
        mu,
        stepsize_controller=controller,
        saveat=saveat,
        max_steps=100_000,
    )


@pytest.mark.parametrize("base", [dfx.Dopri8(), dfx.Dopri5(), dfx.Tsit5(), dfx.Bosh3()])
@pytest.mark.parametrize("adaptive", [True, False])
def test_same_steps_and_values_as_diffrax(base, adaptive):
    controller = dfx.PIDController(rtol=1e-8, atol=1e-10) if adaptive else dfx.ConstantStepSize()
    ref, ours = _solve(base, controller), _solve(Unrolled(base), controller)
    # Same accepted and rejected steps, same dense output (ts between steps are interpolated).
    assert int(ref.stats["num_steps"]) == int(ours.stats["num_steps"])
    assert int(ref.stats["num_accepted_steps"]) == int(ours.stats["num_accepted_steps"])
    # Rounding differs (different summation order) and grows along the solution: ~1e-13.
    np.testing.assert_allclose(ours.ys, ref.ys, rtol=0, atol=1e-11)
    assert Unrolled(base).order(None) == base.order(None)


def test_pytree_state_forward_and_reverse_mode():
    # The variational system is a (y, Φ, τ) tuple; Floquet differentiates forward, training
    # in reverse: both agree with diffrax's own Dopri8.
    def flow(solver, y0, mu, adjoint=dfx.RecursiveCheckpointAdjoint()):
        options = satode.FlowOptions(solver=solver, rtol=1e-10, atol=1e-12, adjoint=adjoint)
        sol = variational_flow(_van_der_pol, y0, 6.0, mu, options=options)
        return sol.ys[1][-1].sum() + sol.ys[2][-1]

    y0 = jnp.array([2.0, 0.1])
    grad_ref = jax.grad(flow, argnums=2)(dfx.Dopri8(), y0, 1.0)
    grad_ours = jax.grad(flow, argnums=2)(Unrolled(dfx.Dopri8()), y0, 1.0)
    np.testing.assert_allclose(grad_ours, grad_ref, rtol=1e-9)
    forward = dfx.ForwardMode()
    jvp_ref = jax.jvp(lambda y: flow(dfx.Dopri8(), y, 1.0, forward), (y0,), (jnp.ones(2),))
    jvp_ours = jax.jvp(
        lambda y: flow(Unrolled(dfx.Dopri8()), y, 1.0, forward), (y0,), (jnp.ones(2),)
    )
    np.testing.assert_allclose(jvp_ours, jvp_ref, rtol=1e-9)


def test_vmap_equals_loop():
    mus = jnp.linspace(0.5, 2.0, 4)
    controller = dfx.PIDController(rtol=1e-10, atol=1e-12)

    def end(mu):
        return _solve(Unrolled(dfx.Dopri8()), controller, mu=mu).ys[-1]

    batched = jax.vmap(end)(mus)
    looped = jnp.stack([end(mu) for mu in mus])
    np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-13)


def test_rejects_implicit_solvers():
    with pytest.raises(TypeError, match="explicit"):
        Unrolled(dfx.Kvaerno5())


def test_fixed_step_is_diffrax_constant_step():
    # FlowOptions(dt=…) integrates with ConstantStepSize: the RK4-like error of a fixed step
    # is visible (no error control), and it equals diffrax's own constant-step solve.
    options = satode.FlowOptions(dt=0.1)
    sol = satode.integrate(_van_der_pol, jnp.array([2.0, 0.0]), 7.3, 1.0, options=options)
    ref = _solve(dfx.Dopri8(), dfx.ConstantStepSize(), saveat=dfx.SaveAt(t1=True), dt0=0.1)
    assert int(sol.stats["num_steps"]) == 73
    np.testing.assert_allclose(sol.ys[-1], ref.ys[-1], rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="dt"):
        satode.FlowOptions(dt=0.0)
