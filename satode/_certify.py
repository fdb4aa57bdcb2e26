"""Capacity certificates: can a saturated network possibly reproduce a target's spectrum?

The bound of arXiv 2604.00543 says every Floquet (or Lyapunov) exponent of an orbit in a region
`U` lies in `[−C(U), C(U)]`, and the rotation bound (SCIENCE.md §7) that a planar `T`-periodic
orbit needs `C(U) ≥ 2π/T`. So a target with exponents `λ_i` and period `T` needs

    C_needed = max(max_i |λ_i|, 2π/T [planar]),

and a network whose `C(U) < C_needed` on the region where it would have to carry that orbit
*cannot* reproduce it: a proof, whatever training does to the orbit, as long as the weights and
the saturation stay as they are. The converse is no proof: `C(U) ≥ C_needed` only leaves room.
"""

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._analysis import analyse_orbit
from ._bounds import saturation_audit, SaturationAudit
from ._flow import FlowOptions
from ._mlp import SaturatingMLP
from ._periodic_orbit import sample_orbit
from ._results import RESULTS


# `cannot` needs the bound below the need by more than rounding (the bound is a product of
# norms computed to ~1e-15 relative; the need is a measured exponent good to ~1e-10).
_PROOF_SLACK = 1e-9


class TargetSpectrum(eqx.Module):
    """What a network would have to reproduce.

    **Fields:** `exponents` (descending; the trivial 0 of a cycle included or not), `period`
    (NaN if not a cycle), `planar` (the rotation bound applies), `samples` (points of the
    target's orbit, `(n, d)`, or `None` when only the spectrum is known).
    """

    exponents: np.ndarray
    period: float
    planar: bool = eqx.field(static=True)
    samples: np.ndarray | None = None


class Certificate(eqx.Module):
    """The verdict of `certify`, with every number it rests on.

    **Fields:**

    - `verdict`: `cannot` (proved by the bound), `can` (the network's own orbit reproduces the
        target's period and exponents within `tolerance`) or `undetermined`.
    - `reason`: one line saying why.
    - `c_needed`, `c_exponents` (`max|λ_i|`), `c_rotation` (`2π/T`, NaN unless planar).
    - `c_global`: `C_W ∏_k sup|σ'|`, a bound on `‖Df‖` everywhere.
    - `target_region`: the `SaturationAudit` over the target's orbit samples (or `None`).
    - `own`: the audit on the network's own orbit (or `None` if it has none from `y0`).
    - `own_period`, `own_exponents`: the network's own cycle (NaN if none).
    - `c_w_needed`: the weight constant `C_W` the network would need at its current saturation
        on the target region, `C_needed / ∏_k δ_k(U)` (NaN without a region).
    """

    verdict: str = eqx.field(static=True)
    reason: str = eqx.field(static=True)
    c_needed: float
    c_exponents: float
    c_rotation: float
    c_global: float
    target_region: SaturationAudit | None
    own: SaturationAudit | None
    own_period: float
    own_exponents: np.ndarray
    c_w_needed: float


def target_from_system(
    field, y0, args=None, *, transient=0.0, period=None, n_samples: int = 2049, options=None
) -> TargetSpectrum:
    """The target spectrum and orbit samples of a system's cycle reached from `y0`.

    **Raises:** `ValueError` if no periodic orbit is found.
    """
    options = FlowOptions() if options is None else options
    y0 = jnp.asarray(y0)
    a = eqx.filter_jit(analyse_orbit)(
        field, y0, args, period=period, transient=transient, n_samples=33, options=options
    )
    if int(a.result._value) != RESULTS.successful._value:
        raise ValueError(f"target: no periodic orbit found from y0 = {np.asarray(y0).tolist()}")
    samples = eqx.filter_jit(sample_orbit)(field, a.orbit, args, n=n_samples, options=options)
    return target_of(a, samples)


def target_of(analysis, samples) -> TargetSpectrum:
    """The `TargetSpectrum` of an analysed cycle (an unbatched `OrbitAnalysis`) and its samples
    (`None`: a spectrum only)."""
    return TargetSpectrum(
        exponents=np.asarray(analysis.spectrum.exponents),
        period=float(analysis.orbit.period),
        planar=analysis.orbit.y0.shape[0] == 2,
        samples=None if samples is None else np.asarray(samples),
    )


def capacity_needed(target: TargetSpectrum) -> tuple[float, float, float]:
    """`(C_needed, max|λ_i|, 2π/T)`: the smallest `C(U)` any network reproducing `target` has."""
    c_exp = float(np.max(np.abs(target.exponents))) if len(target.exponents) else 0.0
    c_rot = 2 * math.pi / target.period if target.planar and target.period > 0 else math.nan
    return max(c_exp, 0.0 if math.isnan(c_rot) else c_rot), c_exp, c_rot


def certify(
    target: TargetSpectrum,
    model: SaturatingMLP,
    *,
    y0=None,
    tolerance: float = 0.05,
    transient=0.0,
    options: FlowOptions | None = None,
) -> Certificate:
    """Can `model` (weights and saturation as they are) reproduce `target`'s spectrum?

    - `cannot` when the bound over the region the orbit would occupy, `C_theory(U)` on the
        target's orbit samples (or `c_global` when only a spectrum is given), is below
        `C_needed` (module docstring): no orbit there can have the target's exponents/period.
    - `can` when the network's own cycle (found from `y0`, default the target's first sample or
        `(1, 0, …)`) has the target's period and exponents within `tolerance` (relative, the
        exponents relative to `max|λ_i|`).
    - `undetermined` otherwise (the bound leaves room, the network does not do it).

    Cheap enough to call in a training study: before training (on the initial weights at each
    saturation setting, to skip settings that cannot succeed) and after it (on the trained ones).

    **Arguments:** `target` (`target_from_system` or a `TargetSpectrum` built from a measured
    spectrum), `model`, `y0`, `tolerance`, `transient`, `options`.

    **Returns:** a `Certificate`.
    """
    options = FlowOptions() if options is None else options
    c_needed, c_exp, c_rot = capacity_needed(target)
    activation = model.activation_fn
    c_global = float(model.weight_constant()) * activation.sup_derivative**model.depth
    region = None
    if target.samples is not None:
        region = saturation_audit(model, jnp.asarray(target.samples), period=target.period)
    if y0 is None:
        y0 = target.samples[0] if target.samples is not None else [1.0] + [0.0] * (model.dim - 1)
    a = eqx.filter_jit(analyse_orbit)(
        model,
        jnp.asarray(y0, model.weights[0].dtype),
        period=None if math.isnan(target.period) else target.period,
        transient=transient,
        n_samples=1025,
        options=options,
    )
    found = int(a.result._value) == RESULTS.successful._value
    own = a.audit if found else None
    own_period = float(a.orbit.period) if found else math.nan
    own_exponents = np.asarray(a.spectrum.exponents) if found else np.full(model.dim, np.nan)
    bound = float(region.c_theory) if region is not None else c_global
    where = "on the target's orbit" if region is not None else "anywhere (global bound)"
    c_w_needed = math.nan if region is None else weight_constant_needed(c_needed, region.delta)
    matched = found and matches_target(target, own_period, own_exponents, tolerance)
    verdict = verdict_of(bound, c_needed, matched)
    if verdict == "cannot":
        reason = (
            f"C_theory = {bound:.6g} {where} < C_needed = {c_needed:.6g}: no orbit there can have "
            "the target's exponents" + (" and period" if c_rot >= c_exp else "")
        )
    elif verdict == "can":
        reason = (
            f"the network's own cycle has period {own_period:.6g} and exponents "
            f"{np.round(own_exponents, 6).tolist()}, within {tolerance:g} of the target"
        )
    else:
        reason = (
            f"C_theory = {bound:.6g} {where} >= C_needed = {c_needed:.6g} leaves room, but the "
            + (
                "network has no cycle from y0"
                if not found
                else "network's own cycle does not match the target"
            )
        )
    return Certificate(
        verdict=verdict,
        reason=reason,
        c_needed=c_needed,
        c_exponents=c_exp,
        c_rotation=c_rot,
        c_global=c_global,
        target_region=region,
        own=own,
        own_period=own_period,
        own_exponents=own_exponents,
        c_w_needed=c_w_needed,
    )


def verdict_of(bound: float, c_needed: float, matched: bool) -> str:
    """`cannot` if the bound is below the need (beyond rounding), else `can` if the network's own
    cycle matched the target, else `undetermined`."""
    if bound < c_needed * (1 - _PROOF_SLACK):
        return "cannot"
    return "can" if matched else "undetermined"


def weight_constant_needed(c_needed: float, delta) -> float:
    """`C_needed / ∏_k δ_k(U)`: the `C_W` a network saturated as `δ` on `U` needs there."""
    deltas = float(np.prod(np.asarray(delta)))
    return c_needed / deltas if deltas > 0 else math.inf


def matches_target(target, period, exponents, tolerance) -> bool:
    """The period (relative) and the exponents (relative to `max|λ_i|`) within `tolerance`."""
    if not math.isnan(target.period):
        if not abs(period - target.period) <= tolerance * target.period:
            return False
    want = np.sort(np.asarray(target.exponents, float))[::-1]
    have = np.sort(np.asarray(exponents, float))[::-1]
    if want.shape != have.shape:
        return False
    scale = max(float(np.max(np.abs(want))), 1e-300)
    return bool(np.all(np.abs(have - want) <= tolerance * scale))


def certificate_record(cert: Certificate) -> dict:
    """The JSON object of `satode certify --json`."""
    from ._tables import audit_record, json_safe

    return json_safe(
        {
            "verdict": cert.verdict,
            "reason": cert.reason,
            "c_needed": cert.c_needed,
            "c_needed_exponents": cert.c_exponents,
            "c_needed_rotation": cert.c_rotation,
            "c_global": cert.c_global,
            "target_region": None
            if cert.target_region is None
            else audit_record(cert.target_region),
            "own_orbit": None if cert.own is None else audit_record(cert.own),
            "own_period": cert.own_period,
            "own_exponents": [float(v) for v in cert.own_exponents],
            "c_w_needed": cert.c_w_needed,
        }
    )


def _model(path, assignments):
    from ._analysis import at_level
    from ._errors import InputError
    from ._io import load_mlp
    from ._target import parse_assignments

    model = load_mlp(path)
    for key, value in parse_assignments(assignments, what="--model-set").items():
        if key not in ("gain", "shift"):
            raise InputError(f"--model-set {key}: a network takes gain or shift")
        model = at_level(model, key, value)
    return model


def run_certify(args) -> int:
    """`satode certify TARGET MODEL` / `satode certify MODEL --exponents … [--period T]`."""
    import json

    from ._errors import InputError
    from ._target import parse_assignments, parse_vector, resolve_field

    if args.exponents is not None:
        if len(args.names) != 1 and not (len(args.names) == 2 and args.names[0] == "spectrum"):
            raise InputError("certify: with --exponents give only MODEL (or 'spectrum MODEL')")
        if args.preset is not None or args.set:
            raise InputError("certify: --preset/--set describe a target system, not --exponents")
        exponents = parse_vector(args.exponents, what="--exponents")
        period = math.nan
        if args.period is not None:
            if not (math.isfinite(args.period) and args.period > 0):
                raise InputError(f"--period: expected a finite number > 0, got {args.period}")
            period = args.period
        model = _model(args.names[-1], args.model_set)
        planar = args.planar or (model.dim == 2 and not math.isnan(period))
        target = TargetSpectrum(np.asarray(exponents), period, planar, None)
        name = "spectrum"
    else:
        if len(args.names) != 2:
            raise InputError("certify: expected TARGET MODEL (or MODEL --exponents ...)")
        name, model_file = args.names
        field, _, y0 = resolve_field(name, preset=args.preset, params=parse_assignments(args.set))
        if y0 is None:
            raise InputError(f"certify: target {name!r} needs a built-in system or an .npz")
        model = _model(model_file, args.model_set)
        if len(y0) != model.dim:
            raise InputError(
                f"certify: target {name} has dimension {len(y0)}, model {model_file} {model.dim}"
            )
        transient = 10 * float(getattr(field, "time_scale", 10.0))
        target = target_from_system(field, y0, transient=transient)
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise InputError(f"--tolerance: expected a finite number > 0, got {args.tolerance}")
    cert = certify(target, model, tolerance=args.tolerance)
    record = {"target": name, "model": args.names[-1], **certificate_record(cert)}
    record["target_exponents"] = [float(v) for v in np.asarray(target.exponents)]
    record["target_period"] = None if math.isnan(target.period) else target.period
    if args.json:
        print(json.dumps(record))
    else:
        print(f"certify {name} with {args.names[-1]}: {cert.verdict}")
        print(f"  {cert.reason}")
        print(
            f"  C_needed {cert.c_needed:.6g} (max|λ| {cert.c_exponents:.6g}, 2π/T "
            f"{cert.c_rotation:.6g})   C_global {cert.c_global:.6g}"
        )
        for label, audit in (("target orbit", cert.target_region), ("own orbit", cert.own)):
            if audit is not None:
                print(
                    f"  {label:<12}  C_theory {float(audit.c_theory):.6g}   "
                    f"C_emp {float(audit.c_empirical):.6g}   delta "
                    + " ".join(f"{float(d):.4g}" for d in np.asarray(audit.delta))
                )
        if math.isfinite(cert.own_period):
            print(
                f"  own cycle   period {cert.own_period:.6g}  exponents "
                + " ".join(f"{v:.6g}" for v in cert.own_exponents)
            )
    return 0
