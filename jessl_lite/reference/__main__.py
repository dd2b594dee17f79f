"""``python -m jessl_lite.reference list | run NAME [--variants ...] [--seeds ...] | verify [NAME ...]``."""

from __future__ import annotations

import argparse
import sys

import torch

from . import CHECK_STEPS, EXPERIMENTS, _load_definitions, experiment, load, record_path, run, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jessl_lite.reference",
                                     description="Make, list and re-check the book's reference runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the experiments, their variants and the stored records' wall time")
    make = commands.add_parser("run", help="run (or resume) an experiment and store its records")
    make.add_argument("name")
    make.add_argument("--variants", nargs="+", default=None)
    make.add_argument("--seeds", nargs="+", type=int, default=None)
    make.add_argument("--checkpoint-root", default=None, help="default: the jessl_lite cache folder")
    make.add_argument("--threads", type=int, default=None, help="CPU threads (default: the experiment's, 1)")
    check = commands.add_parser("verify", help=f"re-run the first {CHECK_STEPS} steps of stored records")
    check.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    _load_definitions()
    try:
        if args.command == "list":
            for name, spec in sorted(EXPERIMENTS.items()):
                records = load(name)
                seconds = sum(r.seconds for runs in records.values() for r in runs)
                count = sum(len(runs) for runs in records.values())
                print(f"{name}: {spec.title}\n  variants: {', '.join(spec.variants)}; seeds {list(spec.seeds)}\n"
                      f"  stored: {count} of {len(spec.variants) * len(spec.seeds)} records, "
                      f"{seconds / 60:.1f} min of training and evaluation in all")
        elif args.command == "run":
            spec = experiment(args.name)
            torch.set_num_threads(args.threads or spec.threads)
            runs = run(args.name, args.variants, args.seeds, checkpoint_root=args.checkpoint_root)
            print(f"{len(runs)} records in {record_path(args.name, runs[0].info['variant'], runs[0].seed).parent}")
        else:
            failures = 0
            for name in args.names or sorted(EXPERIMENTS):
                for variant, runs in load(name).items():
                    for record in runs:
                        problems = verify(record)
                        failures += bool(problems)
                        status = "ok" if not problems else "DIFFERS: " + "; ".join(problems)
                        print(f"{name} {variant} seed {record.seed}: {status}")
            return 1 if failures else 0
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
