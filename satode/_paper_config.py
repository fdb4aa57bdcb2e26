"""Validation of the `[paper]` and `[grid]` sections of a sweep config (see `satode/_paper.py`).

Kept apart from `_paper.py` so that reading a config never imports JAX code.
"""

import math

from ._errors import InputError


ILLUSTRATIONS = ("A", "B", "C", "D", "E", "F", "beyond")
_PROBE_RULES = ("far_from_switching",)
_SERIES_UNITS = ("absolute", "w1_max_row_norm")
_GRID_ACTIVATIONS = ("tanh", "sigmoid", "softsign", "softplus", "silu", "gelu", "sin", "relu")


def _fail(path, key, message):
    raise InputError(f"{path}: {key}: {message}")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(path, key, values, *, positive=False, length=None):
    if not isinstance(values, list) or not values:
        _fail(path, key, f"expected a non-empty list of numbers, got {values!r}")
    for i, v in enumerate(values):
        if not _number(v) or (positive and v <= 0):
            what = "a finite number > 0" if positive else "a finite number"
            _fail(path, f"{key}[{i}]", f"expected {what}, got {v!r}")
    if length is not None and len(values) != length:
        _fail(path, key, f"expected {length} numbers, got {len(values)}")
    return [float(v) for v in values]


def check_paper_section(path, paper: dict, network: dict | None) -> dict:
    """Check the `[paper]` section's values (types were checked by the schema)."""
    out = dict(paper)
    if out["illustration"] is not None and out["illustration"] not in ILLUSTRATIONS:
        _fail(
            path,
            "paper.illustration",
            f"expected one of {list(ILLUSTRATIONS)}, got {out['illustration']!r}",
        )
    radius = out["circle_radius"]
    if radius is not None and not (_number(radius) and radius > 0):
        _fail(path, "paper.circle_radius", f"expected a finite number > 0, got {radius!r}")
    if out["circle_points"] < 3:
        _fail(path, "paper.circle_points", f"expected an integer >= 3, got {out['circle_points']}")
    if out["probe"] is not None:
        if not out["probe"]:
            _fail(path, "paper.probe", "expected a non-empty list of points [[x, y], ...]")
        out["probe"] = [
            _numbers(path, f"paper.probe[{i}]", p, length=None) for i, p in enumerate(out["probe"])
        ]
        if len({len(p) for p in out["probe"]}) != 1:
            _fail(path, "paper.probe", "all points must have the same dimension")
    if out["probe_select"] is not None and out["probe_select"] not in _PROBE_RULES:
        _fail(
            path,
            "paper.probe_select",
            f"expected one of {list(_PROBE_RULES)}, got {out['probe_select']!r}",
        )
    if out["probe_select"] is not None and out["probe"] is not None:
        _fail(path, "paper.probe", "give at most one of paper.probe and paper.probe_select")
    radii = _numbers(path, "paper.probe_radii", out["probe_radii"], length=3)
    if not (0 <= radii[0] <= radii[1]) or radii[2] < 1 or radii[2] != int(radii[2]):
        _fail(path, "paper.probe_radii", f"expected [r_min, r_max, count], got {radii}")
    if out["probe_angles"] < 1:
        _fail(path, "paper.probe_angles", f"expected an integer >= 1, got {out['probe_angles']}")
    if out["table_levels"] is not None:
        out["table_levels"] = _numbers(path, "paper.table_levels", out["table_levels"])
    if out["portraits"] is not None:
        out["portraits"] = _numbers(path, "paper.portraits", out["portraits"])
        times = out["portrait_time"] or [30.0] * len(out["portraits"])
        out["portrait_time"] = _numbers(
            path, "paper.portrait_time", times, positive=True, length=len(out["portraits"])
        )
    series = out["series_parameter"]
    if (series is None) != (out["series_values"] is None):
        _fail(path, "paper.series_values", "give both paper.series_parameter and series_values")
    if series is not None:
        if network is None or series not in ("gain", "shift"):
            _fail(
                path,
                "paper.series_parameter",
                f"expected 'gain' or 'shift' of a network, got {series!r}",
            )
        out["series_values"] = _numbers(path, "paper.series_values", out["series_values"])
    if out["series_unit"] not in _SERIES_UNITS:
        _fail(
            path,
            "paper.series_unit",
            f"expected one of {list(_SERIES_UNITS)}, got {out['series_unit']!r}",
        )
    return out


def check_grid_section(path, grid: dict, fit: dict | None, levels_fn) -> dict:
    """Check the `[grid]` section: lists of network.fit values and the saturation kinds."""
    if fit is None:
        _fail(path, "[grid]", "a grid needs [network.fit] (each member fits its own network)")
    out = dict(grid)
    for key in ("depth", "width"):
        if out[key] is not None:
            values = out[key]
            if not values or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
            ):
                _fail(
                    path,
                    f"grid.{key}",
                    f"expected a non-empty list of integers >= 1, got {values!r}",
                )
    if out["activation"] is not None:
        if not out["activation"]:
            _fail(path, "grid.activation", "expected a non-empty list of activation names")
        for i, name in enumerate(out["activation"]):
            if name not in _GRID_ACTIVATIONS:
                _fail(
                    path,
                    f"grid.activation[{i}]",
                    f"expected one of {list(_GRID_ACTIVATIONS)}, got {name!r}",
                )
    kinds = out["saturation"]
    if not kinds or any(k not in ("gain", "shift") for k in kinds):
        _fail(path, "grid.saturation", f"expected a list of 'gain' and/or 'shift', got {kinds!r}")
    for kind in kinds:
        spec = out[f"{kind}_levels"]
        if spec is None:
            _fail(path, f"grid.{kind}_levels", "missing: the levels of this saturation kind")
        try:
            out[f"{kind}_levels"] = levels_fn(path, spec)
        except InputError as e:
            raise InputError(str(e).replace("sweep.levels", f"grid.{kind}_levels")) from None
    return out
