"""Sweep configuration files (TOML): schema, validation, and errors that name file and key."""

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import InputError
from ._flow import make_solver, SOLVERS


_SOLVERS = tuple(SOLVERS)


def _spec(**fields):
    return fields


# Each section: key -> (types, default). A default of `...` marks a required key.
_NUMBER = (int, float)
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "network": _spec(
        file=((str,), None),
        gain=(_NUMBER, None),
        shift=(_NUMBER, None),
    ),
    "network.fit": _spec(
        system=((str,), "stuart-landau"),
        preset=((str,), None),
        params=((dict,), {}),
        width=((int,), 64),
        depth=((int,), 1),
        activation=((str,), "tanh"),
        shift=(_NUMBER, 0.0),
        weight_std=(_NUMBER, 0.5),
        row_norm_max=(_NUMBER, None),
        train_first_bias=((bool,), True),
        n_samples=((int,), 1500),
        radius=((list,), [0.1, 2.0]),
        steps=((int,), 3000),
        learning_rate=(_NUMBER, 1e-3),
        optimizer=((str,), "adam"),
        seed=((int,), 0),
        box=((list,), None),
    ),
    "system": _spec(name=((str,), ...), preset=((str,), None), params=((dict,), {})),
    "sweep": _spec(
        parameter=((str,), "gain"),
        levels=((list, dict), ...),
        y0=((list,), None),
        period=(_NUMBER, None),
        transient=(_NUMBER, 0.0),
        warm_start=((bool,), True),
        chunk_size=((int,), None),
        block_size=((int,), 256),
        n_samples=((int,), 2049),
        circle_radius=(_NUMBER, None),
        max_period=(_NUMBER, 1e7),
        spectra=((list,), ["floquet"]),
    ),
    # Lyapunov spectra along trajectories, when sweep.spectra asks for them.
    "lyapunov": _spec(
        t_total=(_NUMBER, 1000.0),
        renorm_interval=(_NUMBER, 1.0),
        transient=(_NUMBER, 100.0),
        k=((int,), None),
        n_batches=((int,), 10),
        samples_per_interval=((int,), 4),
        y0=((list,), None),
    ),
    "solver": _spec(
        method=((str,), "dopri8"),
        unrolled=((bool,), False),
        rtol=(_NUMBER, 1e-11),
        atol=(_NUMBER, 1e-12),
        dt=(_NUMBER, None),
        max_steps=((int,), 100_000),
        newton_tol=(_NUMBER, 1e-11),
        closure_tol=(_NUMBER, 1e-8),
    ),
    "output": _spec(title=((str,), None), table_rows=((int,), 60)),
    # Present: the sweep follows one branch by continuation from the first level to the last.
    "continuation": _spec(
        method=((str,), "arclength"),
        step=(_NUMBER, None),
        max_step=(_NUMBER, None),
        tol=(_NUMBER, None),
        max_points=((int,), 400),
    ),
    # Paper reproductions and studies (satode/_paper.py): the prescribed-circle column set, point
    # probes, a series of fixed values of a second parameter, and the grid of networks.
    "paper": _spec(
        illustration=((str,), None),
        circle_radius=(_NUMBER, None),
        circle_points=((int,), 1000),
        probe=((list,), None),
        probe_select=((str,), None),
        probe_radii=((list,), [0.5, 2.0, 20]),
        probe_angles=((int,), 10000),
        table_levels=((list,), None),
        portraits=((list,), None),
        portrait_time=((list,), None),
        series_parameter=((str,), None),
        series_values=((list,), None),
        series_unit=((str,), "absolute"),
    ),
    "grid": _spec(
        depth=((list,), None),
        activation=((list,), None),
        width=((list,), None),
        saturation=((list,), ["gain"]),
        gain_levels=((list, dict), None),
        shift_levels=((list, dict), None),
    ),
}
_LEVEL_KEYS = _spec(
    start=(_NUMBER, ...), stop=(_NUMBER, ...), num=((int,), ...), spacing=((str,), "linear")
)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration: one dict per section, defaults filled in."""

    path: str
    raw: dict
    network: dict | None
    fit: dict | None
    system: dict | None
    sweep: dict
    solver: dict
    output: dict
    levels: list[float] = field(default_factory=list)
    continuation: dict | None = None
    paper: dict | None = None
    grid: dict | None = None
    lyapunov: dict | None = None


def _fail(path, key, message):
    raise InputError(f"{path}: {key}: {message}")


def _check_section(path, name, table, schema):
    if not isinstance(table, dict):
        _fail(path, f"[{name}]", f"expected a table, got {type(table).__name__}")
    out = {}
    for key, value in table.items():
        if key not in schema:
            if name == "network" and key == "fit":
                continue
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _fail(path, f"{name}.{key}", f"unknown key{hint}; expected one of {sorted(schema)}")
        types, _ = schema[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            expected = " or ".join(t.__name__ for t in types)
            _fail(
                path, f"{name}.{key}", f"expected {expected}, got {type(value).__name__} {value!r}"
            )
        out[key] = value
    for key, (_, default) in schema.items():
        if key not in out:
            if default is ...:
                _fail(path, f"{name}.{key}", "missing required key")
            out[key] = default
    return out


def _positive(path, key, value, *, allow_none=False):
    if value is None and allow_none:
        return
    if not (
        isinstance(value, (int, float)) and value > 0 and value == value and value != float("inf")
    ):
        _fail(path, key, f"expected a finite number > 0, got {value!r}")


def _finite_number(v) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool) and abs(v) < float("inf")


def _levels(path, spec) -> list[float]:
    import numpy as np

    if isinstance(spec, list):
        if not spec:
            _fail(path, "sweep.levels", "expected a non-empty list of numbers")
        for i, v in enumerate(spec):
            if isinstance(v, bool) or not isinstance(v, _NUMBER):
                _fail(path, f"sweep.levels[{i}]", f"expected a number, got {v!r}")
        values = [float(v) for v in spec]
    else:
        spec = _check_section(path, "sweep.levels", spec, _LEVEL_KEYS)
        for key in ("start", "stop"):
            if not _finite_number(spec[key]):
                _fail(path, f"sweep.levels.{key}", f"levels must be finite, got {spec[key]!r}")
        if spec["num"] < 1:
            _fail(path, "sweep.levels.num", f"expected an integer >= 1, got {spec['num']}")
        if spec["spacing"] == "linear":
            values = np.linspace(spec["start"], spec["stop"], spec["num"]).tolist()
        elif spec["spacing"] == "log":
            if spec["start"] <= 0 or spec["stop"] <= 0:
                _fail(path, "sweep.levels", "log spacing needs start > 0 and stop > 0")
            values = np.geomspace(spec["start"], spec["stop"], spec["num"]).tolist()
        else:
            _fail(
                path, "sweep.levels.spacing", f"expected 'linear' or 'log', got {spec['spacing']!r}"
            )
    bad = [v for v in values if not np.isfinite(v)]
    if bad:
        _fail(path, "sweep.levels", f"levels must be finite, got {bad[0]!r}")
    return values


def load_config(path) -> SweepConfig:
    """Read and validate a sweep config.

    **Raises:** `InputError` naming the file and the key for every problem: unreadable file,
    TOML syntax, unknown or misspelt keys (with a suggestion), wrong types, non-positive
    tolerances, empty or non-finite levels, both or neither of `[network]` and `[system]`.
    """
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read config ({e.strerror or e})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML ({e})") from None
    sections = {
        "network",
        "system",
        "sweep",
        "solver",
        "output",
        "continuation",
        "paper",
        "grid",
        "lyapunov",
    }
    for key in raw:
        if key not in sections:
            close = difflib.get_close_matches(key, sorted(sections), n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            _fail(path, f"[{key}]", f"unknown section{hint}; expected {sorted(sections)}")
    if ("network" in raw) == ("system" in raw):
        _fail(path, "[network]/[system]", "exactly one of [network] and [system] is required")
    network = fit = system = None
    if "network" in raw:
        network = _check_section(path, "network", raw["network"], _SCHEMA["network"])
        if "fit" in raw["network"]:
            fit = _check_section(path, "network.fit", raw["network"]["fit"], _SCHEMA["network.fit"])
        if (network["file"] is None) == (fit is None):
            _fail(path, "network", "give exactly one of network.file and [network.fit]")
    else:
        system = _check_section(path, "system", raw["system"], _SCHEMA["system"])
    if "sweep" not in raw:
        _fail(path, "[sweep]", "missing required section")
    sweep = _check_section(path, "sweep", raw["sweep"], _SCHEMA["sweep"])
    solver = _check_section(path, "solver", raw.get("solver", {}), _SCHEMA["solver"])
    output = _check_section(path, "output", raw.get("output", {}), _SCHEMA["output"])
    for key in ("rtol", "atol", "newton_tol", "closure_tol"):
        _positive(path, f"solver.{key}", solver[key])
    _positive(path, "solver.max_steps", solver["max_steps"])
    _positive(path, "solver.dt", solver["dt"], allow_none=True)
    if solver["method"] not in _SOLVERS:
        _fail(path, "solver.method", f"expected one of {list(_SOLVERS)}, got {solver['method']!r}")
    try:
        make_solver(solver["method"], solver["unrolled"])
    except ValueError as err:
        _fail(path, "solver.unrolled", str(err))
    _positive(path, "sweep.chunk_size", sweep["chunk_size"], allow_none=True)
    _positive(path, "sweep.block_size", sweep["block_size"])
    _positive(path, "sweep.max_period", sweep["max_period"])
    _positive(path, "sweep.circle_radius", sweep["circle_radius"], allow_none=True)
    if sweep["n_samples"] < 3:
        _fail(path, "sweep.n_samples", f"expected an integer >= 3, got {sweep['n_samples']}")
    _positive(path, "sweep.period", sweep["period"], allow_none=True)
    if not (0 <= sweep["transient"] < float("inf")):
        _fail(path, "sweep.transient", f"expected a finite number >= 0, got {sweep['transient']!r}")
    if sweep["y0"] is not None and not (
        sweep["y0"] and all(_finite_number(v) for v in sweep["y0"])
    ):
        _fail(path, "sweep.y0", f"expected a non-empty list of finite numbers, got {sweep['y0']!r}")
    for section, table in (("system", system), ("network.fit", fit)):
        for key, value in (table or {}).get("params", {}).items():
            if not _finite_number(value):
                _fail(path, f"{section}.params.{key}", f"expected a finite number, got {value!r}")
    for key in ("gain", "shift"):
        if network is not None and network[key] is not None and not _finite_number(network[key]):
            _fail(path, f"network.{key}", f"expected a finite number, got {network[key]!r}")
    if fit is not None:
        for key in ("width", "depth", "steps", "n_samples"):
            _positive(path, f"network.fit.{key}", fit[key])
        _positive(path, "network.fit.learning_rate", fit["learning_rate"])
    levels = _levels(path, sweep["levels"])
    lyapunov = _lyapunov_section(path, raw, sweep, fit)
    continuation = None
    if "continuation" in raw:
        continuation = _check_section(
            path, "continuation", raw["continuation"], _SCHEMA["continuation"]
        )
        if continuation["method"] not in ("arclength", "natural"):
            _fail(
                path,
                "continuation.method",
                f"expected 'arclength' or 'natural', got {continuation['method']!r}",
            )
        for key in ("step", "max_step", "tol"):
            _positive(path, f"continuation.{key}", continuation[key], allow_none=True)
        _positive(path, "continuation.max_points", continuation["max_points"])
        if len(levels) < 2 or levels[0] == levels[-1]:
            _fail(path, "sweep.levels", "continuation needs a first and a last level that differ")
    paper = grid = None
    if "paper" in raw:
        from ._paper_config import check_paper_section

        paper = check_paper_section(
            path, _check_section(path, "paper", raw["paper"], _SCHEMA["paper"]), network
        )
    if "grid" in raw:
        from ._paper_config import check_grid_section

        grid = _check_section(path, "grid", raw["grid"], _SCHEMA["grid"])
        grid = check_grid_section(path, grid, fit, _levels)
    return SweepConfig(
        path,
        raw,
        network,
        fit,
        system,
        sweep,
        solver,
        output,
        levels,
        continuation=continuation,
        paper=paper,
        grid=grid,
        lyapunov=lyapunov,
    )


_SPECTRA = ("floquet", "lyapunov")


def _lyapunov_section(path, raw, sweep, fit) -> dict | None:
    """Validate `sweep.spectra`, `[lyapunov]` and `network.fit.box`; the Lyapunov options, or
    `None` when no Lyapunov spectra are asked for."""
    spectra = sweep["spectra"]
    if not spectra or any(s not in _SPECTRA for s in spectra) or len(set(spectra)) != len(spectra):
        _fail(
            path,
            "sweep.spectra",
            f"expected a non-empty list of distinct names from {list(_SPECTRA)}, got {spectra!r}",
        )
    if fit is not None and fit["box"] is not None:
        box = fit["box"]
        if not all(
            isinstance(b, list) and len(b) == 2 and all(map(_finite_number, b)) and b[0] < b[1]
            for b in box
        ):
            _fail(path, "network.fit.box", f"expected [[lo, hi], ...] with lo < hi, got {box!r}")
    if "lyapunov" not in spectra:
        if "lyapunov" in raw:
            _fail(path, "[lyapunov]", "given, but sweep.spectra does not include 'lyapunov'")
        return None
    lyap = _check_section(path, "lyapunov", raw.get("lyapunov", {}), _SCHEMA["lyapunov"])
    for key in ("t_total", "renorm_interval"):
        _positive(path, f"lyapunov.{key}", lyap[key])
    if not (_finite_number(lyap["transient"]) and lyap["transient"] >= 0):
        got = lyap["transient"]
        _fail(path, "lyapunov.transient", f"expected a finite number >= 0, got {got!r}")
    n = max(1, round(lyap["t_total"] / lyap["renorm_interval"]))
    if not 2 <= lyap["n_batches"] <= n:
        _fail(
            path,
            "lyapunov.n_batches",
            f"expected an integer in [2, t_total / renorm_interval = {n}], got {lyap['n_batches']}",
        )
    if lyap["k"] is not None and lyap["k"] < 1:
        _fail(path, "lyapunov.k", f"expected an integer >= 1, got {lyap['k']}")
    _positive(path, "lyapunov.samples_per_interval", lyap["samples_per_interval"])
    y0 = lyap["y0"]
    if y0 is not None and not (y0 and all(map(_finite_number, y0))):
        _fail(path, "lyapunov.y0", f"expected a non-empty list of finite numbers, got {y0!r}")
    return lyap
