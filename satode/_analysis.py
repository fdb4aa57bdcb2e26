"""One level, end to end: the orbit of the actual field, its Floquet spectrum and bound audit."""

import equinox as eqx
import jax.numpy as jnp

from ._bounds import saturation_audit, SaturationAudit
from ._curve import circle, circle_spectrum, CurveSpectrum
from ._floquet import floquet, FloquetSpectrum
from ._flow import FlowOptions
from ._mlp import SaturatingMLP
from ._periodic_orbit import find_periodic_orbit, PeriodicOrbit, sample_orbit, Shooting
from ._results import nan_unless, RESULTS


# Checks that turn an `ok` into `check_failed`. The trivial multiplier of an orbit closed to
# 1e-8 sits within ~1e-8·‖M‖ of 1; 1e-5 leaves room for ill-conditioned M yet catches a wrong
# orbit. The Liouville residual is limited by eig's absolute accuracy on small multipliers
# (≈1e-16·‖M‖/|μ_min|); 1e-4 flags only a monodromy that is wrong.
# In float32 (eps 1.2e-7, integrations at rtol ~1e-6, closure ~1e-4) both are ~100x larger
# for a correct orbit (trivial multiplier errors 1e-5 to 1e-4 measured on the quickstart
# network), and a wrong orbit still misses by O(0.1).
_TRIVIAL_TOL = 1e-5
_LIOUVILLE_TOL = 1e-4
_TRIVIAL_TOL_NARROW = 1e-3
_LIOUVILLE_TOL_NARROW = 1e-2


def _check_tolerances(dtype) -> tuple[float, float]:
    if jnp.finfo(dtype).eps < 1e-10:
        return _TRIVIAL_TOL, _LIOUVILLE_TOL
    return _TRIVIAL_TOL_NARROW, _LIOUVILLE_TOL_NARROW


class CurveAnalysis(eqx.Module):
    """The prescribed-curve numbers (the paper's method): spectrum and audit along a circle."""

    spectrum: CurveSpectrum
    audit: SaturationAudit | None


class OrbitAnalysis(eqx.Module):
    """Everything satode reports about one field at one saturation level.

    **Fields:** `orbit` (`PeriodicOrbit`), `spectrum` (`FloquetSpectrum`), `audit`
    (`SaturationAudit` on the orbit, `None` unless the field is a `SaturatingMLP`), `curve`
    (`CurveAnalysis` along the prescribed circle, or `None`), and `result`: the orbit's status,
    or `check_failed` when the accuracy checks or the bound order fail on a found orbit.
    """

    orbit: PeriodicOrbit
    spectrum: FloquetSpectrum
    audit: SaturationAudit | None
    curve: CurveAnalysis | None
    result: RESULTS


def analyse_orbit(
    vector_field,
    y0,
    args=None,
    *,
    period=None,
    transient=0.0,
    n_samples: int = 4097,
    circle_radius: float | None = None,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e6,
    throw: bool = False,
) -> OrbitAnalysis:
    """Find the orbit reached from `y0`, its Floquet spectrum, and (for MLPs) the bound audit.

    **Arguments:** as `find_periodic_orbit`, plus `n_samples` (orbit samples for the audit) and
    `circle_radius` (also evaluate the paper's prescribed circle of that radius; planar only).

    **Returns:** an `OrbitAnalysis`; under `vmap` each member carries its own `result`.
    """
    orbit = find_periodic_orbit(
        vector_field,
        y0,
        args,
        period=period,
        transient=transient,
        options=options,
        shooting=shooting,
        max_period=max_period,
        throw=False,
    )
    analysis = analyse_periodic_orbit(
        vector_field,
        orbit,
        args,
        n_samples=n_samples,
        circle_radius=circle_radius,
        options=options,
    )
    if throw:
        analysis = eqx.error_if(
            analysis, analysis.result != RESULTS.successful, "orbit analysis failed"
        )
    return analysis


def analyse_periodic_orbit(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    n_samples: int = 4097,
    circle_radius: float | None = None,
    options: FlowOptions = FlowOptions(),
) -> OrbitAnalysis:
    """The Floquet spectrum, accuracy checks and (for MLPs) bound audit of an orbit already found
    (by `find_periodic_orbit`, or by a continuation corrector). Arguments as `analyse_orbit`.
    """
    spectrum = floquet(vector_field, orbit, args, options=options, throw=False)
    samples = None
    if isinstance(vector_field, SaturatingMLP):
        samples = sample_orbit(vector_field, orbit, args, n=n_samples, options=options)
    analysis = assemble_analysis(
        vector_field,
        orbit,
        spectrum,
        samples,
        args,
        n_samples=n_samples,
        circle_radius=circle_radius,
        options=options,
    )
    return analysis


def assemble_analysis(
    vector_field,
    orbit: PeriodicOrbit,
    spectrum: FloquetSpectrum,
    samples,
    args=None,
    *,
    n_samples: int,
    circle_radius: float | None,
    options: FlowOptions,
) -> OrbitAnalysis:
    """The `OrbitAnalysis` of an orbit whose spectrum (and, for MLPs, samples) are known:
    the audit, the prescribed circle and the accuracy checks (shared by `analyse_orbit` and the
    sweep's fused path)."""
    result = spectrum.result
    trivial_tol, liouville_tol = _check_tolerances(orbit.period.dtype)
    checks_ok = (spectrum.trivial_multiplier_error <= trivial_tol) & ~(
        spectrum.liouville_residual > liouville_tol
    )
    audit = curve = None
    if isinstance(vector_field, SaturatingMLP):
        audit = nan_unless(
            orbit.result == RESULTS.successful,
            saturation_audit(
                vector_field, samples, period=orbit.period, exponents=spectrum.exponents
            ),
        )
        checks_ok = checks_ok & audit.contained
    if circle_radius is not None:
        curve_spectrum = circle_spectrum(vector_field, circle_radius, args, options=options)
        curve_audit = None
        if isinstance(vector_field, SaturatingMLP):
            points = circle(circle_radius, n_samples, dtype=curve_spectrum.period.dtype)
            # Grönwall bounds the curve's "exponents" by C_emp too (any curve, orbit or not).
            curve_audit = saturation_audit(
                vector_field,
                points,
                period=curve_spectrum.period,
                exponents=curve_spectrum.exponents,
            )
        curve = CurveAnalysis(curve_spectrum, curve_audit)
    result = RESULTS.where(
        (result == RESULTS.successful) & ~checks_ok, RESULTS.check_failed, result
    )
    return OrbitAnalysis(orbit, spectrum, audit, curve, result)


def at_level(vector_field, parameter: str, level):
    """`vector_field` with its field `parameter` (`"gain"`, `"current"`…) set to `level`."""
    if not hasattr(vector_field, parameter):
        raise ValueError(f"parameter {parameter!r} is not a field of {type(vector_field).__name__}")
    old = getattr(vector_field, parameter)
    return eqx.tree_at(lambda m: getattr(m, parameter), vector_field, jnp.asarray(level, old.dtype))
