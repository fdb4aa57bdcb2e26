"""Tidy records of analyses: one flat dict per level (CSV rows) or one nested dict (JSON)."""

import math

import numpy as np

from ._results import status_name


def _f(x) -> float:
    return float(np.asarray(x))


def _json_number(x):
    x = _f(x)
    return None if not math.isfinite(x) else x


def analysis_rows(levels, analysis) -> list[dict]:
    """One flat dict per level of a batched `OrbitAnalysis` (the columns of `results.csv`)."""
    a = analysis
    rows = []
    codes = np.asarray(a.result._value)
    for i, level in enumerate(np.asarray(levels)):
        row = {"level": float(level), "status": status_name(codes[i])}
        row["period"] = _f(a.orbit.period[i])
        row["closure"] = _f(a.orbit.closure[i])
        for j, y in enumerate(np.asarray(a.orbit.y0[i]), 1):  # a point of the orbit found
            row[f"orbit_y0_{j}"] = float(y)
        for j, lam in enumerate(np.asarray(a.spectrum.exponents[i]), 1):
            row[f"exponent_{j}"] = float(lam)
        for j, mu in enumerate(np.asarray(a.spectrum.multipliers[i]), 1):
            row[f"multiplier_abs_{j}"] = float(abs(mu))
        row["trivial_multiplier_error"] = _f(a.spectrum.trivial_multiplier_error[i])
        row["liouville_residual"] = _f(a.spectrum.liouville_residual[i])
        row["exponent_method"] = a.spectrum.method
        row["exponents_from_eig"] = int(a.spectrum.n_eig[i])
        row["eig_gap"] = _f(a.spectrum.eig_gap[i])
        if a.audit is not None:
            row.update(_audit_columns(a.audit, i, ""))
        if a.curve is not None:
            s = a.curve.spectrum
            for j, mu in enumerate(np.asarray(s.multipliers[i]), 1):
                row[f"circle_multiplier_abs_{j}"] = float(abs(mu))
            for j, lam in enumerate(np.asarray(s.exponents[i]), 1):
                row[f"circle_exponent_{j}"] = float(lam)
            row["circle_trace_integral"] = _f(s.trace_integral[i])
            if a.curve.audit is not None:
                row.update(_audit_columns(a.curve.audit, i, "circle_"))
        rows.append(row)
    return rows


def _audit_columns(audit, i, prefix):
    out = {}
    for k, d in enumerate(np.asarray(audit.delta[i]), 1):
        out[f"{prefix}delta_{k}"] = float(d)
    for k, z in enumerate(np.asarray(audit.zero_crossing[i]), 1):
        out[f"{prefix}zero_crossing_{k}"] = bool(z)
    for name in ("c_w", "c_theory", "c_empirical", "c_refined"):
        out[prefix + name] = _f(getattr(audit, name)[i])
    if not prefix:
        out["rotation_ratio"] = _f(audit.rotation_ratio[i])
        # The order check means something only where an orbit was found.
        found = bool(np.isfinite(np.asarray(audit.c_empirical[i])))
        out["contained"] = bool(audit.contained[i]) if found else float("nan")
        out["log_window"] = _f(audit.log_window[i])
    return out


def _g(value) -> str:
    """A number of an `audit_record` for people: 6 significant digits, `nan` where missing."""
    return "nan" if value is None else f"{value:.6g}"


def audit_lines(audit: dict) -> list[str]:
    """The human-readable lines of an `audit_record`: δ per layer and the constants (`nan`
    where there is no orbit to audit)."""
    return [
        "  delta       "
        + "  ".join(_g(d) for d in audit["delta"])
        + f"   zero crossing: {audit['zero_crossing']}",
        f"  C_W {_g(audit['c_w'])}   C_theory {_g(audit['c_theory'])}   "
        f"C_emp {_g(audit['c_empirical'])}   C_refined {_g(audit['c_refined'])}",
    ]


def audit_record(audit) -> dict:
    """The `audit` object of the CLI's JSON (one unbatched `SaturationAudit`)."""
    return {
        "delta": [float(d) for d in np.asarray(audit.delta)],
        "zero_crossing": [bool(z) for z in np.asarray(audit.zero_crossing)],
        "c_w": _json_number(audit.c_w),
        "c_theory": _json_number(audit.c_theory),
        "c_empirical": _json_number(audit.c_empirical),
        "c_refined": _json_number(audit.c_refined),
        "rotation_ratio": _json_number(audit.rotation_ratio),
        "contained": bool(audit.contained),
        "log_window": _json_number(audit.log_window),
    }


def json_safe(value):
    """Replace non-finite floats by `None`, recursively (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
