"""``livetrans eval``: the robustness and latency suite, from the command line.

    livetrans eval --out DIR [--quick] [--model base] [--set tuning|heldout|all] [--groups clean,noise,...]
                   [--noises crowd,music] [--snrs 20,10,5,0] [--clips en,jfk_inaugural_1961]
                   [--nonspeech-seconds 180] [--long-minutes 30] [--seed 0]
    livetrans eval --render DIR/report.json --out DIR     # re-draw tables and plots, no models
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, get_args

from livetrans.errors import LivetransError
from livetrans.options import csv_list

logger = logging.getLogger(__name__)


def _floats(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in csv_list(value))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {value!r}") from e


def default_samples_dir() -> Path:
    """The checkout's samples/ (src/livetrans/evaluation → repository root)."""
    return Path(__file__).resolve().parents[3] / "samples"


def register(subparsers: Any) -> None:
    """Add ``eval`` to the livetrans command parser."""
    from livetrans.evaluation.conditions import SNRS_DB
    from livetrans.evaluation.suite import ALL_GROUPS, SuiteOptions

    defaults = SuiteOptions()
    parser = subparsers.add_parser(
        "eval",
        help="robustness and latency suite: noise, synthetic voices, non-speech, a long stream; streaming vs offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for report.json, report.md and the PNG plots")
    parser.add_argument("--quick", action="store_true", help="a few minutes per set: shortest en/es/zh clips, a crowd and a music noise at 10 dB, 30 s non-speech, 3-minute long stream")
    parser.add_argument("--model", default=defaults.model, help="speech model (default: base)")
    parser.add_argument(
        "--set", dest="sample_set", choices=("tuning", "heldout", "all"), default="all",
        help="recordings: the tuning set (defaults were chosen on it), the held-out set (never tuned on; "
        "its speech is mixed with its own noises only), or both, reported side by side (default: all)",
    )  # fmt: skip
    parser.add_argument("--groups", "--conditions", dest="groups", type=csv_list, default=ALL_GROUPS, help=f"condition groups (default: {','.join(ALL_GROUPS)})")
    parser.add_argument("--noises", type=csv_list, default=(), help="noise types (tuning: crowd, music, mall, restaurant, kitchen, freesound; held-out: stadium, carnival, traffic, plane, house-music; default: all of the set)")
    parser.add_argument("--snrs", type=_floats, default=SNRS_DB, help="SNRs in dB (default: 20,10,5,0)")
    parser.add_argument("--clips", type=csv_list, default=(), help="clip names or languages (default: every clip of the chosen set or sets)")
    parser.add_argument("--voices", type=csv_list, default=(), help="synthetic voice keys (default: all available)")
    parser.add_argument("--nonspeech-seconds", type=float, default=defaults.nonspeech_seconds, help="length of each non-speech condition (default: 180)")
    parser.add_argument("--long-minutes", type=float, default=defaults.long_minutes, help="length of the long stream (default: 30)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for every mix and assembly (default: 0)")
    parser.add_argument("--clock", choices=("virtual", "real"), default="virtual", help="virtual: simulated real-time arrival, no waiting (default); real: paced at real time")
    parser.add_argument("--decode-cost", type=float, default=None, metavar="SECONDS", help="virtual clock: charge each decode this fixed time instead of measuring it (reproducible on a busy machine; latencies then are not this machine's)")
    parser.add_argument("--language-hint", action="store_true", help="give each clip's language instead of detecting it")
    parser.add_argument("--samples-dir", type=Path, default=None, help="the samples folder (default: the checkout's samples/)")
    parser.add_argument("--render", type=Path, default=None, metavar="REPORT_JSON", help="re-draw report.md and plots from a saved report.json (or a stopped run's results.partial.jsonl); runs no model")
    parser.set_defaults(handler=run_eval)


def _progress(index: int, total: int, name: str, started: float = time.perf_counter()) -> None:
    elapsed = time.perf_counter() - started
    print(f"[{index}/{total}] {elapsed / 60:5.1f} min  {name}", file=sys.stderr, flush=True)


def run_eval(args: argparse.Namespace) -> int:
    """Run (or re-render) the suite; print where the report went. Exit code 0, or 1 on a user error."""
    from livetrans.evaluation.report import markdown_table, report_from_results, summary_rows, write_report

    if args.render is not None:
        try:
            text = args.render.read_text(encoding="utf-8")
            report = report_from_results(text.splitlines()) if args.render.suffix == ".jsonl" else json.loads(text)
        except (OSError, ValueError, KeyError) as e:
            raise LivetransError(f"cannot read report {args.render}: {e}") from e
        written = write_report(report, args.out)
        print("\n".join(str(p) for p in written))
        return 0

    from livetrans.evaluation.conditions import SAMPLE_SETS, ConditionKind
    from livetrans.evaluation.suite import SuiteOptions, run_suite

    unknown = [g for g in args.groups if g not in get_args(ConditionKind)]
    if unknown:
        raise LivetransError(f"unknown condition group(s) {', '.join(unknown)}; use {', '.join(get_args(ConditionKind))}")
    samples_dir = args.samples_dir or default_samples_dir()
    if not (samples_dir / "MANIFEST.tsv").is_file():
        raise LivetransError(f"no samples/MANIFEST.tsv under {samples_dir}; pass --samples-dir")
    options = SuiteOptions(
        model=args.model, seed=args.seed, groups=args.groups, noises=args.noises, snrs=args.snrs,
        clips=args.clips, voices=args.voices, nonspeech_seconds=args.nonspeech_seconds,
        long_minutes=args.long_minutes, clock=args.clock, decode_cost=args.decode_cost,
        language_hint=args.language_hint,
        sets=SAMPLE_SETS if args.sample_set == "all" else (args.sample_set,),
    )  # fmt: skip
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "results.partial.jsonl"
    checkpoint.unlink(missing_ok=True)
    report = run_suite(
        options, samples_dir, quick=args.quick, checkpoint=checkpoint,
        progress=lambda i, n, name: _progress(i, n, name, started),
    )  # fmt: skip
    checkpoint.unlink(missing_ok=True)
    written = write_report(report, args.out)
    print(markdown_table(summary_rows(report["conditions"])))
    print("\n".join(str(p) for p in written))
    return 0
