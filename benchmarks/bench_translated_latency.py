"""End-to-end latency of translated captions while recognition runs on the same CPU.

Word end → translation emitted, for 3 target languages at once, with the bundled
English clips replayed at real time through the live pipeline (recognition and
translation in their own threads, as in `livetrans serve`). No NLLB weights install
here, so the translator is the full-size NLLB-200-distilled-600M architecture with
random weights (converted to CTranslate2 int8 like a real download); its output is
capped at the source length, which is what a real translation costs. Quality is
not measured. ``--pairs`` translates with one opus-mt model per target instead
(the opus-mt-en-es architecture, random weights, routed as ``--mt-model a,b,c`` is).

    python benchmarks/bench_translated_latency.py --out reports/bench-translated.json
    python benchmarks/bench_translated_latency.py --pairs --out reports/bench-translated-pairs.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mt import prepare_random_nllb, prepare_random_opus_mt  # noqa: E402

from livetrans.evaluation.bench_asr import bench_language, default_samples_dir, machine  # noqa: E402
from livetrans.evaluation.conditions import read_manifest  # noqa: E402
from livetrans.mt import DecodeOptions, ModelPerPair, TranslationStage, load_translator  # noqa: E402
from livetrans.pipeline import PipelineConfig, SpeechModels, at_translation_priority  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("reports/bench-translated.json"))
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "livetrans" / "bench-mt")
    parser.add_argument("--targets", default="es,fr,de")
    parser.add_argument("--language", default="en")
    parser.add_argument("--mt-threads", type=int, default=1, help="translation threads (the product uses 1)")
    parser.add_argument("--asr-threads", type=int, default=0, help="recognition threads (default 0: all cores)")
    parser.add_argument(
        "--no-drafts", dest="drafts", action="store_false",
        help="translate finished sentences only (no partial translations of the sentence so far)",
    )
    parser.add_argument(
        "--pairs", action="store_true",
        help="one opus-mt model per target (opus-mt-en-es architecture) instead of NLLB-600M",
    )
    parser.add_argument(
        "--clock", choices=["real", "virtual"], default="real",
        help="virtual: recognition and translation each on its own timeline, charged what each call "
        "took (no CPU contention between them; with --decode-cost, a fixed cost per decode)",
    )
    parser.add_argument("--decode-cost", type=float, default=None, help="virtual clock: seconds per decode")
    parser.add_argument(
        "--same-priority", action="store_true",
        help="translation threads at recognition's CPU priority (the product runs them nicer)",
    )
    args = parser.parse_args()

    targets = tuple(args.targets.split(","))
    # Random weights never stop by themselves: cap the output at the source length.
    options = DecodeOptions(beam_size=1, max_length_ratio=1.0, max_length_margin=0)
    if args.pairs:
        folders = [prepare_random_opus_mt(args.work, args.language, target) for target in targets]
        described = "one opus-mt model per target (opus-mt-en-es architecture)"
    else:
        folders = [prepare_random_nllb(args.work)]
        described = "NLLB-200-distilled-600M architecture"

    def load() -> ModelPerPair:
        return ModelPerPair([load_translator(f, intra_threads=args.mt_threads, options=options) for f in folders])

    # As the product loads it: its threads yield to recognition's (pipeline.TRANSLATION_NICENESS).
    translator = load() if args.same_priority else at_translation_priority(load)
    stage = TranslationStage(translator, targets)
    config = PipelineConfig(model="base", language=None, targets=targets, translation_drafts=args.drafts,
                            cpu_threads=args.asr_threads)
    models = SpeechModels.load(config)
    clips = [c for c in read_manifest(default_samples_dir()) if c.lang == args.language and c.path.parent.parent.name == "speech"]
    print(f"streaming {len(clips)} {args.language} clips at {args.clock} time, translating into {','.join(targets)}…",
          file=sys.stderr)
    result = bench_language(args.language, clips, config, models, args.clock, stage, args.decode_cost)
    values = result["translation_latencies"]
    shown = result["translation_shown_latencies"]
    report = {
        "benchmark": "translated caption latency",
        "machine": machine(),
        "targets": list(targets),
        "translator": f"{described}, random weights, CTranslate2 int8, {args.mt_threads} thread(s)",
        "translation_median": round(float(np.median(values)), 3) if values else None,
        "translation_p95": round(float(np.percentile(values, 95)), 3) if values else None,
        "shown_median": round(float(np.median(shown)), 3) if shown else None,
        "shown_p95": round(float(np.percentile(shown, 95)), 3) if shown else None,
        "clock": args.clock,
        "decode_cost": args.decode_cost,
        "drafts": args.drafts,
        "same_priority": args.same_priority,
        "asr_threads": args.asr_threads,
        "per_target": result["translation_latency"],
        "recognition": {k: result[k] for k in ("rtf", "latency", "audio_seconds")},
        "translator_calls": stage.calls,
        # A final translation served from the cache: its sentence ended as last drafted.
        "cache_hits": stage.cache_hits,
        "cache_misses": stage.cache_misses,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    keys = ("shown_median", "shown_p95", "translation_median", "translation_p95", "per_target", "recognition")
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
