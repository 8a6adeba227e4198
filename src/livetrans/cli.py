"""The command-line shell: ``livetrans transcribe | models | bench | serve | eval``.

Errors a user can fix (``LivetransError``) print one line to stderr and exit 1;
bad arguments exit 2 (argparse); Ctrl-C exits 130 after saving what was done.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import LivetransError
from .options import add_model_options, csv_list, pipeline_config, positive_int

log = logging.getLogger("livetrans")

# Commands that live with the part of the product they drive.
_COMMAND_MODULES = ("livetrans.server.command", "livetrans.evaluation.command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livetrans", description="Real-time multilingual subtitles for live broadcasts."
    )
    parser.add_argument("--version", action="version", version=f"livetrans {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    transcribe = commands.add_parser("transcribe", help="caption (and translate) a file or a live stream URL")
    transcribe.add_argument("input", help="an audio/video file, a stream URL (rtmp, hls, srt, http), or - for s16le 16 kHz mono PCM on stdin")
    transcribe.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where to write the files (default: .)")
    transcribe.add_argument("--format", type=csv_list, default=("srt", "vtt"), metavar="FORMATS", help="any of srt,vtt,jsonl (default: srt,vtt)")
    transcribe.add_argument("--live", action="store_true", help="run the streaming pipeline at real time, printing captions as they come")
    transcribe.add_argument("--print", dest="print_mode", choices=("text", "jsonl", "none"), default="text", help="with --live: what to print on stdout (default: text)")
    transcribe.add_argument("--pcm-rate", type=int, default=16_000, help="stdin PCM sample rate (default: 16000)")
    transcribe.add_argument("--pcm-channels", type=int, default=1)
    transcribe.add_argument("--pcm-format", choices=("s16le", "f32le"), default="s16le")
    add_model_options(transcribe)
    transcribe.set_defaults(handler=_run_transcribe)

    models = commands.add_parser("models", help="list or fetch models")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_list = models_commands.add_parser("list", help="known models and whether they are installed")
    models_list.set_defaults(handler=_run_models_list)
    models_pull = models_commands.add_parser("pull", help="download (and convert) a model into the cache")
    models_pull.add_argument("name", help="a speech model (e.g. small) or a translation model (e.g. nllb-200-distilled-600M)")
    models_pull.set_defaults(handler=_run_models_pull)

    bench = commands.add_parser("bench", help="benchmarks that print figures")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    bench_asr = bench_commands.add_parser("asr", help="streaming recognition: latency, WER, real-time factor")
    bench_asr.add_argument("--out", type=Path, default=Path("bench-asr.json"), help="the JSON report (default: bench-asr.json)")
    bench_asr.add_argument("--clock", choices=("real", "virtual"), default="real", help="real: replay at real time (default); virtual: simulated arrival, no waiting")
    bench_asr.add_argument("--decode-cost", type=float, default=None, metavar="SECONDS", help="virtual clock: charge each decode this fixed time instead of measuring it, so the text does not depend on how busy the machine is (latencies then are not this machine's)")
    bench_asr.add_argument("--languages", type=csv_list, default=("en", "es", "zh"), help="sample languages to stream (default: en,es,zh)")
    bench_asr.add_argument("--shifts", type=positive_int, default=1, metavar="N", help="replay each language N times, each behind 37 ms more leading silence, and report the mean error rates: one replay of a few dozen words is one draw (default: 1)")
    bench_asr.add_argument("--samples-dir", type=Path, default=None, help="the samples folder (default: the checkout's samples/)")
    add_model_options(bench_asr)
    bench_asr.set_defaults(handler=_run_bench_asr)
    from .evaluation.bench_streams import register as register_bench_streams

    register_bench_streams(bench_commands)

    for name in _COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(commands)
    return parser


def _run_transcribe(args: argparse.Namespace) -> int:
    from .transcribe import run_live, run_offline

    config = pipeline_config(args)
    if args.live:
        return asyncio.run(run_live(args.input, config, args))
    return run_offline(args.input, config, args)


def _run_models_list(args: argparse.Namespace) -> int:
    from .models import format_model_table, list_models

    print(format_model_table(list_models()))
    return 0


def _run_models_pull(args: argparse.Namespace) -> int:
    from .models import pull

    print(pull(args.name, progress=True))
    return 0


def _run_bench_asr(args: argparse.Namespace) -> int:
    from .evaluation.bench_asr import run_bench_asr

    return run_bench_asr(args, pipeline_config(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except LivetransError as e:
        print(f"livetrans: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("livetrans: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
