"""Explicit Runge–Kutta steps with the stage loop unrolled, for `diffrax.diffeqsolve`.

diffrax runs the stages of a Runge–Kutta step as a loop over a stage buffer (one code path for
explicit, implicit and multi-term tableaus, and no spurious copies under reverse-mode autodiff).
For the small, non-stiff ODEs satode integrates by the million (a 2–3-D state with its tangent
vectors, batched under `vmap`), that loop's bookkeeping costs more than the vector field.
`Unrolled` wraps one of diffrax's explicit solvers and computes the same step — its Butcher
tableau, error estimate, FSAL and dense output — as straight-line code: same numbers to
rounding, fewer operations per step.
"""

from typing import ClassVar

import diffrax as dfx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import jax.tree_util as jtu


def _combine(y0, coefficients, ks):
    """`y0 + Σ_j a_j k_j` over pytrees, skipping zero coefficients."""
    terms = [(float(a), k) for a, k in zip(coefficients, ks, strict=True) if a != 0]

    def leaf(y, *k_leaves):
        out = y
        for (a, _), k in zip(terms, k_leaves, strict=True):
            out = out + jnp.asarray(a, k.dtype) * k
        return out

    return jtu.tree_map(leaf, y0, *[k for _, k in terms])


def _dot(coefficients, ks):
    """`Σ_j a_j k_j` over pytrees."""
    terms = [(float(a), k) for a, k in zip(coefficients, ks, strict=True) if a != 0]

    def leaf(*k_leaves):
        out = jnp.zeros_like(k_leaves[0])
        for (a, _), k in zip(terms, k_leaves, strict=True):
            out = out + jnp.asarray(a, k.dtype) * k
        return out

    return jtu.tree_map(leaf, *[k for _, k in terms])


class Unrolled(dfx.AbstractAdaptiveSolver):
    """An explicit diffrax Runge–Kutta solver with its stages unrolled.

    **Arguments:**

    - `solver`: an explicit diffrax Runge–Kutta solver (`diffrax.Dopri8()`, `diffrax.Tsit5()`,
        `diffrax.Dopri5()`, …) whose tableau, order and interpolation are used.

    Only `diffrax.ODETerm` vector fields are supported (no SDEs or multi-term equations).
    """

    solver: dfx.AbstractERK
    term_structure: ClassVar = dfx.AbstractTerm

    def __check_init__(self):
        if not isinstance(self.solver, dfx.AbstractERK):
            raise TypeError(
                f"Unrolled: expected an explicit diffrax Runge–Kutta solver, got {self.solver!r}"
            )

    @property
    def interpolation_cls(self):
        return self.solver.interpolation_cls

    def order(self, terms):
        return self.solver.order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def init(self, terms, t0, t1, y0, args):
        if self.solver.tableau.fsal:
            return terms.vf(t0, y0, args)
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        tableau = self.solver.tableau
        dt = t1 - t0

        def k_of(t, y):
            return terms.vf_prod(t, y, args, dt)

        if tableau.fsal:
            f0 = jax.lax.cond(
                eqxi.unvmap_any(made_jump),
                lambda: terms.vf(t0, y0, args),
                lambda: solver_state,
            )
            ks = [terms.prod(f0, dt)]
        else:
            ks = [k_of(t0, y0)]
        f_last = None
        for c, a in zip(tableau.c, tableau.a_lower, strict=True):
            y_stage = _combine(y0, a, ks)
            t_stage = t0 + jnp.asarray(c, dtype=jnp.result_type(dt)) * dt
            if tableau.fsal and c == 1 and a is tableau.a_lower[-1]:
                f_last = terms.vf(t_stage, y_stage, args)
                ks.append(terms.prod(f_last, dt))
            else:
                ks.append(k_of(t_stage, y_stage))
        if tableau.ssal:
            y1 = y_stage
        else:
            y1 = _combine(y0, tableau.b_sol, ks)
        y_error = _dot(tableau.b_error, ks)
        dense_info = dict(y0=y0, y1=y1, k=jtu.tree_map(lambda *k: jnp.stack(k), *ks))
        return y1, y_error, dense_info, f_last, dfx.RESULTS.successful
