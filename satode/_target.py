"""Resolving what the user names on the command line or in a config into a vector field."""

import importlib.util
import math
from pathlib import Path

from ._analysis import at_level
from ._errors import InputError
from ._io import load_mlp
from .systems import get_system, SYSTEMS


def parse_assignments(items: list[str], *, what: str = "--set") -> dict[str, float]:
    """`["gain=2", "shift=0.5"]` → `{"gain": 2.0, "shift": 0.5}` (errors name the item)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"{what} {item!r}: expected NAME=VALUE")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{what} {item!r}: value {value!r} is not a number") from None
        if not math.isfinite(out[name.strip()]):
            raise InputError(f"{what} {item!r}: expected a finite number")
    return out


def parse_vector(text: str, *, what: str) -> list[float]:
    """`"1,0"` → `[1.0, 0.0]`."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} {text!r}: expected comma-separated numbers") from None
    if not values:
        raise InputError(f"{what} {text!r}: expected at least one number")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what} {text!r}: expected finite numbers")
    return values


def check_field(field, y0, *, what: str):
    """Trace `field(0, y0, None)` abstractly (no compute): a field that raises or returns a
    state of another shape is reported as an `InputError` naming `what`, not a JAX traceback."""
    import jax
    import jax.numpy as jnp

    y = jax.ShapeDtypeStruct((len(y0),), jnp.asarray(0.0).dtype)
    try:
        out = jax.eval_shape(lambda y: field(0.0, y, None), y)
    except Exception as e:  # the user's code: report, don't crash
        msg = " ".join(str(e).split())
        msg = msg if len(msg) <= 300 else msg[:297] + "..."
        raise InputError(
            f"{what}: evaluating the field failed ({type(e).__name__}: {msg})"
        ) from None
    shape = getattr(out, "shape", None)
    if shape != y.shape:
        raise InputError(
            f"{what}: the field returns shape {shape} for a state of shape {y.shape} "
            f"(check --y0's length)"
        )


def _load_python_field(spec: str):
    file, _, name = spec.rpartition(":")
    if not Path(file).is_file():
        raise InputError(f"{spec}: no such file {file!r}")
    module_spec = importlib.util.spec_from_file_location("_satode_user_field", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:  # the user's file: report, don't crash
        raise InputError(f"{file}: failed to import ({type(e).__name__}: {e})") from None
    if not callable(getattr(module, name, None)):
        raise InputError(f"{spec}: {file} defines no callable {name!r}")
    return getattr(module, name)


def resolve_field(spec: str, *, preset: str | None = None, params: dict[str, float] | None = None):
    """The vector field, its parameters and default start for a CLI/config target.

    `spec` is a built-in system name, a path to an MLP `.npz` (parameters `gain`, `shift`), or
    `FILE.py:NAME` naming a function `NAME(t, y, args)`.

    **Returns:** `(vector_field, params, default_y0)` (`default_y0` is `None` for a Python field).

    **Raises:** `InputError` naming the target and what is wrong.
    """
    params = dict(params or {})
    if spec in SYSTEMS:
        cls = get_system(spec)
        try:
            field = cls.from_params(preset, **params)
        except ValueError as e:
            raise InputError(str(e)) from None
        return field, {k: float(v) for k, v in field.params().items()}, list(cls.default_y0)
    if preset is not None:
        raise InputError(f"--preset applies to built-in systems, not to {spec!r}")
    if spec.endswith(".py") or (".py:" in spec):
        if ":" not in spec or spec.endswith(".py"):
            raise InputError(f"{spec}: expected FILE.py:NAME")
        if params:
            raise InputError(f"{spec}: a Python field takes no --set parameters")
        return _load_python_field(spec), {}, None
    if spec.endswith(".npz") or Path(spec).is_file() or Path(spec).is_dir():
        mlp = load_mlp(spec)
        unknown = set(params) - {"gain", "shift"}
        if unknown:
            raise InputError(
                f"{spec}: unknown parameter(s) {sorted(unknown)}; an MLP takes gain, shift"
            )
        for key, value in params.items():
            mlp = at_level(mlp, key, value)
        y0 = [1.0] + [0.0] * (mlp.dim - 1)
        return mlp, {"gain": float(mlp.gain), "shift": float(mlp.shift)}, y0
    raise InputError(
        f"unknown system {spec!r}; expected one of {sorted(SYSTEMS)}, a path to an .npz, "
        "or FILE.py:NAME"
    )


def resolve_target(args):
    """`resolve_field` for a CLI command's `system`, `--preset`, `--set` and `--y0` arguments,
    with the start checked against the field's dimension.

    **Returns:** `(vector_field, params, y0)`.

    **Raises:** `InputError` naming the argument and what was expected.
    """
    params = parse_assignments(args.set)
    field, resolved, y0 = resolve_field(args.system, preset=args.preset, params=params)
    if args.y0 is not None:
        y0 = parse_vector(args.y0, what="--y0")
    if y0 is None:
        raise InputError(f"{args.system}: a Python field needs --y0 to fix the dimension")
    dim = getattr(field, "dim", None)
    if dim is not None and len(y0) != int(dim):
        raise InputError(f"--y0: {args.system} has dimension {int(dim)}, got {len(y0)} numbers")
    return field, resolved, y0
