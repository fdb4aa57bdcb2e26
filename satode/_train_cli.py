"""The `satode train` command: read a TOML config, run a training (or a study), print a summary."""

import json
import sys
import tomllib
from pathlib import Path

from ._errors import InputError


def read_toml(path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read config ({e.strerror or e})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: invalid TOML ({e})") from None


def train_command(args) -> int:
    raw = read_toml(args.config)
    out = Path(args.out) if args.out else Path("out") / Path(args.config).stem
    if "study" in raw:
        from ._study import report_study, run_study

        if args.report_only:
            rows = report_study(args.config, raw, out, setup=args.setup)
        else:
            rows = run_study(args.config, raw, out, setup=args.setup, progress=not args.quiet)
        print(f"wrote {out}/study.csv, study.md, study.png  ({len(rows)} networks)")
        return 0
    if args.setup is not None:
        raise InputError(f"{args.config}: --setup applies to study configs (with a [study] table)")
    from ._train_run import check_train_config, train_config

    cfg = check_train_config(args.config, raw)
    summary = train_config(cfg, out, progress=not args.quiet)
    for row in summary.get("analysis", []):
        print(
            f"member seed={row['seed']} level={row['level']:g}: {row['status']}  "
            f"period {row['period']:.6g} (error {row['period_error']:+.2%})  "
            f"exponent {row['exponent']:.6g} (true {row['true_exponent']:.6g}, "
            f"error {row['exponent_error']:+.2%})  R2 {row['r2_1']:.4f}"
        )
    print(
        f"wrote {out}/network*.npz, model.eqx, metrics.csv, summary.json "
        f"(training {summary['train_seconds']:.1f} s)"
    )
    if args.quiet:
        print(json.dumps({"train_seconds": summary["train_seconds"]}), file=sys.stderr)
    return 0
