"""Status codes shared by every computation (an `optx.RESULTS`-style enumeration)."""

import equinox as eqx
import jax
import jax.numpy as jnp


class RESULTS(eqx.Enumeration):
    """Outcome of one orbit / spectrum / level.

    `RESULTS[code]` gives the message; `RESULTS.where(pred, a, b)` selects under `jit`/`vmap`.
    """

    successful = ""
    no_orbit = (
        "No periodic orbit was found: the trajectory settled on an equilibrium, escaped, or "
        "never returned to its Poincaré section within the search window."
    )
    not_converged = "Newton shooting did not converge to a periodic orbit."
    max_steps = "The ODE solver reached `max_steps`; raise `max_steps` or loosen tolerances."
    nonfinite = "Non-finite values (NaN or inf) appeared in the computation."
    check_failed = (
        "An accuracy check failed (trivial multiplier, Liouville identity, or the bound order "
        "|lambda| <= C_emp <= C_refined <= C_theory); the numbers are not trustworthy."
    )


def status_name(code) -> str:
    """Short, stable status name for tables and JSON (`ok`, `no_orbit`, ...).

    `code` is a `RESULTS` item (e.g. `analysis.result`) or its integer value.
    """
    names = {
        0: "ok",
        1: "no_orbit",
        2: "not_converged",
        3: "max_steps",
        4: "nonfinite",
        5: "check_failed",
    }
    return names[int(getattr(code, "_value", code))]


def nan_unless(ok, tree):
    """NaN in every inexact leaf (False in boolean ones) of `tree` unless `ok`: a failed
    computation reports no numbers rather than stale or meaningless ones."""

    def mask(x):
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            return jnp.where(ok, x, jnp.nan + 1j * jnp.nan)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.where(ok, x, jnp.nan)
        if x.dtype == jnp.bool_:
            return x & ok
        return x

    return jax.tree.map(mask, tree)
