"""The one place that calls `diffrax.diffeqsolve`.

Orbits, monodromy matrices, Lyapunov spectra and training all integrate through `integrate`, so
the solver, step-size controller, `max_steps` and adjoint are configured once, in `FlowOptions`.
"""

import math

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ._solver import Unrolled


# The solvers a config or CLI names.
SOLVERS = {
    "dopri8": dfx.Dopri8,
    "dopri5": dfx.Dopri5,
    "tsit5": dfx.Tsit5,
    "kvaerno5": dfx.Kvaerno5,
}


def make_solver(method: str, unrolled: bool = False) -> dfx.AbstractAdaptiveSolver:
    """The solver `method` names (a key of `SOLVERS`), its stages unrolled if asked.

    **Raises:** `ValueError` for an unknown name, or `unrolled` with an implicit solver.
    """
    if method not in SOLVERS:
        raise ValueError(f"solver: expected one of {list(SOLVERS)}, got {method!r}")
    solver = SOLVERS[method]()
    if not unrolled:
        return solver
    if not isinstance(solver, dfx.AbstractERK):
        raise ValueError(f"solver: {method!r} is implicit; only explicit solvers unroll")
    return Unrolled(solver)


class FlowOptions(eqx.Module):
    """How every ODE in satode is integrated.

    **Arguments:**

    - `solver`: an adaptive diffrax solver. The default, 8th-order Dormand–Prince
        (`diffrax.Dopri8`), is the cheapest accurate choice at the tight tolerances Floquet
        multipliers need; use `diffrax.Kvaerno5()` for stiff systems. `satode.Unrolled(...)`
        computes the same steps as straight-line code: 5× faster for a cheap closed-form
        field with many tangent directions (Lyapunov spectra of Lorenz), but in Floquet
        sweeps, whose cost is the field and its Jacobian, 4% faster on the quickstart network,
        22% slower on Morris–Lecar, and 0.7–3.9 s slower to compile (`benchmarks/README.md`).
        In float32 use `diffrax.Dopri5()` (`method = "dopri5"`): Dopri8's error estimate
        (differences of 14 stages with large coefficients) drowns in float32 rounding at
        rtol ~1e-6 and rejects step after step (332 steps a lap on the quickstart network,
        against 52 for Dopri5; in float64 Dopri8 needs 23).
    - `rtol`, `atol`: tolerances of the PID step-size controller.
    - `dt`: `None` (default) for error control by `rtol`/`atol`; a number for fixed steps of
        (at most) `dt` with no error control (`diffrax.ConstantStepSize`). Fixed steps are
        the cheapest choice where the stiffness is nearly uniform along the trajectory (the
        Lorenz attractor), but nothing then checks the accuracy: check it yourself, e.g. by the
        Liouville sum of a Lyapunov spectrum. `lyapunov_spectrum` shortens `dt` so that every
        renormalisation interval is a whole number of steps.
    - `max_steps`: the most solver steps one integration may take (per batch member).
    - `adjoint`: how to differentiate through the solve (only training differentiates in reverse).
    """

    solver: dfx.AbstractAdaptiveSolver = dfx.Dopri8()
    rtol: float = eqx.field(static=True, default=1e-11)
    atol: float = eqx.field(static=True, default=1e-12)
    dt: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=100_000)
    adjoint: dfx.AbstractAdjoint = dfx.RecursiveCheckpointAdjoint()

    def __check_init__(self):
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError(
                f"FlowOptions: rtol and atol must be > 0, got {self.rtol}, {self.atol}"
            )
        if self.dt is not None and not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError(f"FlowOptions: dt must be None or a finite number > 0, got {self.dt}")
        if not self.max_steps >= 1:
            raise ValueError(f"FlowOptions: max_steps must be >= 1, got {self.max_steps}")


def integrate(
    vector_field,
    y0: PyTree[Array],
    t1,
    args=None,
    *,
    options: FlowOptions = FlowOptions(),
    t0=0.0,
    saveat: dfx.SaveAt = dfx.SaveAt(t1=True),
    event: dfx.Event | None = None,
) -> dfx.Solution:
    """Integrate `y' = vector_field(t, y, args)` from `t0` to `t1` (never raises).

    **Returns:** the `diffrax.Solution`; its `result` reports `max_steps` or event termination.
    """
    if options.dt is None:
        controller = dfx.PIDController(rtol=options.rtol, atol=options.atol)
    else:
        controller = dfx.ConstantStepSize()
    return dfx.diffeqsolve(
        dfx.ODETerm(vector_field),
        options.solver,
        t0,
        t1,
        options.dt,
        y0,
        args,
        saveat=saveat,
        stepsize_controller=controller,
        max_steps=options.max_steps,
        adjoint=options.adjoint,
        event=event,
        throw=False,
    )


def field_and_jacobian(vector_field, t, y, args):
    """`f(y)` and `Df(y)` in one forward-mode pass."""
    jac, value = jax.jacfwd(lambda z: (vector_field(t, z, args),) * 2, has_aux=True)(y)
    return value, jac


class OnUnitInterval(eqx.Module):
    """`dy/ds = T·f(T·s, y)`: the flow of `f` over `[0, T]`, on `s ∈ [0, 1]`; for `T = 0`, `0`.

    Under `vmap`, windows of different (traced) lengths `T` then share one fixed save grid on
    `[0, 1]`, and a member with nothing to integrate (`T = 0`) takes one step of a zero field
    and is done. (Integrated directly, a zero-length member never takes the step that saves
    its grid, and diffrax's save loop runs through its whole grid again at every step of the
    other members: 25× slower for a 2,049-sample grid beside one slow orbit.) An embedded
    Runge–Kutta step and its error estimate scale with `T`, so the steps are the same as over
    `[0, T]`, up to rounding.
    """

    vector_field: eqx.Module
    length: Array

    def __call__(self, s, y, args):
        f = self.vector_field(self.length * s, y, args)
        return jnp.where(self.length > 0, self.length * f, jnp.zeros_like(f))


class VariationalField(eqx.Module):
    """The variational system `(y, Φ, τ)' = (f(y), Df(y) Φ, tr Df(y))` of a vector field.

    `τ` accumulates `∫ tr Df dt`, the Liouville integral: `ln|det Φ(T)| = τ(T)` exactly.
    """

    vector_field: eqx.Module

    def __call__(self, t, state, args):
        y, phi, _ = state
        f, jac = field_and_jacobian(self.vector_field, t, y, args)
        return f, jac @ phi, jnp.trace(jac)


def variational_flow(
    vector_field,
    y0: Float[Array, " d"],
    t1,
    args=None,
    *,
    options: FlowOptions = FlowOptions(),
    saveat: dfx.SaveAt = dfx.SaveAt(t1=True),
    event: dfx.Event | None = None,
) -> dfx.Solution:
    """Integrate the variational system from `(y0, I, 0)` under error control."""
    eye = jnp.eye(y0.shape[0], dtype=y0.dtype)
    state0 = (y0, eye, jnp.zeros((), y0.dtype))
    return integrate(
        VariationalField(vector_field),
        state0,
        t1,
        args,
        options=options,
        saveat=saveat,
        event=event,
    )
