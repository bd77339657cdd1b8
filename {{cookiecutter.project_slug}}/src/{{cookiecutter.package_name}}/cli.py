"""The command line of this repository, installed as a console script and as `python -m <package>`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .sample_data import DRIFT_STAGES, generate


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the sample training table, or a production batch at a drift stage."""
    data = load_config()["data"]
    frame = generate(
        args.rows,
        target_column=data["target_column"],
        problem_type=data["problem_type"],
        seed=args.seed,
        drift_stage=args.stage,
    )
    if args.without_target:
        frame = frame.drop(columns=[data["target_column"]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows to {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run every component entrypoint in pipeline order on the sample data."""
    from .demo import run_demo

    summary = run_demo(args.workdir, rows=args.rows, production_rows=args.production_rows)
    if args.json:
        print(json.dumps(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    invoked = Path(sys.argv[0]).name
    prog = f"python -m {__package__}" if invoked == "__main__.py" else invoked
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write sample data (training table or a drifted batch)")
    sample.add_argument("--rows", type=int, default=5000)
    sample.add_argument("--stage", type=int, default=0, choices=list(DRIFT_STAGES), help="drift stage, 0 = none")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--without-target", action="store_true", help="drop the target column (production data)")
    sample.add_argument("--out", type=Path, required=True)
    sample.set_defaults(func=cmd_sample)

    demo = commands.add_parser("demo", help="run the four components in pipeline order on the sample")
    demo.add_argument("--workdir", type=Path, default=Path(".local/demo"))
    demo.add_argument("--rows", type=int, default=5000, help="training rows")
    demo.add_argument("--production-rows", type=int, default=1000, help="rows per drift stage")
    demo.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
