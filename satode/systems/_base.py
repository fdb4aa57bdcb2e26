"""The base of every reference system: an Equinox vector field with array-leaf parameters."""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def as_param(x: ArrayLike) -> Array:
    """Convert a parameter to a floating array leaf (an integer leaf would get no gradient).

    Python numbers become strongly typed arrays of the default float dtype, so `mu=1` and
    `mu=0.5` give leaves of one type and a jitted function compiles once for both.
    """
    if isinstance(x, (bool, int, float)):
        return jnp.asarray(x, dtype=jnp.result_type(float))
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


class AbstractSystem(eqx.Module):
    """A reference ODE `y' = f(y; params)` in diffrax's `vf(t, y, args)` convention.

    Parameters are the Module's array fields, so `jax.vmap` over a stacked system (or over
    `eqx.tree_at(..., value)`) never recompiles. Class variables describe the system for the CLI:

    - `name`: the CLI name (`"stuart-landau"`).
    - `param_names`: the CLI/config names of the parameters, in field order.
    - `dim`: the state dimension.
    - `default_y0`: where a transient starts by default (reaches the cycle).
    - `presets`: named parameter sets, `{preset: {param: value}}`.
    - `default_preset`: the preset used when none is given (or `None`).
    - `time_scale`: a typical period, used to size transients and search windows.
    """

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    dim: ClassVar[int]
    default_y0: ClassVar[tuple[float, ...]]
    presets: ClassVar[dict[str, dict[str, float]]] = {}
    default_preset: ClassVar[str | None] = None
    time_scale: ClassVar[float] = 10.0

    def __call__(self, t, y: Float[Array, " d"], args=None) -> Float[Array, " d"]:
        raise NotImplementedError

    def params(self) -> dict[str, Array]:
        """The parameters as `{name: value}` (CLI/config names)."""
        return {k: getattr(self, k) for k in self.param_names}

    @classmethod
    def from_params(cls, preset: str | None = None, **overrides: float):
        """Build the system from a preset (or the default one) and `NAME=value` overrides.

        **Raises:** `ValueError` naming the unknown preset or parameter.
        """
        values: dict[str, float] = {}
        chosen = preset if preset is not None else cls.default_preset
        if chosen is not None:
            if chosen not in cls.presets:
                raise ValueError(
                    f"{cls.name}: unknown preset {chosen!r}; expected one of {sorted(cls.presets)}"
                )
            values.update(cls.presets[chosen])
        for key, value in overrides.items():
            if key not in cls.param_names:
                raise ValueError(
                    f"{cls.name}: unknown parameter {key!r}; expected one of "
                    f"{list(cls.param_names)}"
                )
            values[key] = value
        return cls(**{k: jnp.asarray(v) for k, v in values.items()})
