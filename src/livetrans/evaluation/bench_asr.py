"""``livetrans bench asr``: streaming recognition measured the way a viewer feels it.

For each language, the bundled clips of that language are joined into one stream
with a second of silence between them and replayed at real time (``--clock real``,
the default) through the streaming pipeline. The same audio also goes through the
offline path of the same model. The report gives, per language and overall:

- final and partial latency per word (median, p95): see ``latency.py``;
- real-time factor of the streaming path (compute seconds / audio seconds);
- streaming and offline WER (CER for zh/ja/ko) against the reference transcripts,
  and streaming WER against the offline transcript;
- the process's peak RSS.

``--shifts N`` replays each language N times, the k-th behind k x 37 ms more leading
silence, and reports error rates as the mean over the N (recognition latencies pooled;
translation latencies from the first replay, before the translator's cache knows the
sentences). Which way Whisper hears a borderline word moves with where its windows
start: on the 41 Spanish words, shifts of tens of milliseconds moved the *offline* WER
between 7 and 22 %, so one replay is one draw, and one word is 2.4 points.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..pipeline import PipelineConfig, SentenceTranslator, SpeechModels, build_translation_stage
from ..sources import load_audio
from ..types import SAMPLE_RATE
from .conditions import Clip, read_manifest
from .latency import translation_latencies, word_latencies
from .metrics import error_rate
from .replay import offline_transcribe, peak_rss_mb, replay

GAP_SECONDS = 1.0
SHIFT_SECONDS = 0.037  # between the replays of --shifts: not a multiple of a VAD frame or mel hop


def default_samples_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "samples"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "load_average_1m": load}


def language_stream(clips: list[Clip]) -> tuple[np.ndarray, str]:
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = [gap]
    for clip in clips:
        parts += [load_audio(clip.path), gap]
    return np.concatenate(parts), " ".join(c.reference for c in clips)


def bench_language(
    lang: str,
    clips: list[Clip],
    config: PipelineConfig,
    models: SpeechModels,
    clock: str,
    translator: SentenceTranslator | None = None,
    decode_cost: float | None = None,
    shifts: int = 1,
) -> dict[str, Any]:
    stream, reference = language_stream(clips)
    runs = []
    for k in range(shifts):
        audio = np.concatenate([np.zeros(int(k * SHIFT_SECONDS * SAMPLE_RATE), np.float32), stream])
        streaming = replay(
            audio, config=config, models=models, clock=clock, translator=translator,  # type: ignore[arg-type]
            decode_cost=decode_cost,
        )
        runs.append((streaming, offline_transcribe(audio, config=config, models=models)))
    streaming, offline = runs[0]
    latency = word_latencies(streaming.events, offline.words)
    for more_streaming, more_offline in runs[1:]:
        latency = latency.merged(word_latencies(more_streaming.events, more_offline.words))
    # Translation latencies from the first replay only: the translator's cache would
    # serve the same sentences faster in the replays after it.
    translated = translation_latencies(streaming.events)
    shown = translation_latencies(streaming.events, first_shown=True)
    streaming_errors = [error_rate(reference, s.text, lang) for s, _ in runs]
    offline_errors = [error_rate(reference, o.text, lang) for _, o in runs]
    return {
        "translation_latency": {
            target: {"median": _pct(values, 50), "p95": _pct(values, 95), "words": len(values)}
            for target, values in translated.items()
        },
        "translation_latencies": [round(x, 3) for v in translated.values() for x in v],
        "translation_shown_latencies": [round(x, 3) for v in shown.values() for x in v],
        "language": lang,
        "clips": [c.key for c in clips],
        "audio_seconds": round(sum(s.duration for s, _ in runs), 2),
        "rtf": round(sum(s.rtf * s.duration for s, _ in runs) / sum(s.duration for s, _ in runs), 3),
        "shifts": shifts,
        "streaming_error_rate": round(float(np.mean(streaming_errors)), 4),
        "offline_error_rate": round(float(np.mean(offline_errors)), 4),
        "streaming_error_rates": [round(x, 4) for x in streaming_errors],
        "offline_error_rates": [round(x, 4) for x in offline_errors],
        "streaming_vs_offline": round(float(np.mean([error_rate(o.text, s.text, lang) for s, o in runs])), 4),
        "metric": "CER" if lang in ("zh", "ja", "ko") else "WER",
        "latency": latency.summary(),
        "final_latencies": [round(x, 3) for x in latency.final],
        "partial_latencies": [round(x, 3) for x in latency.partial],
        "streaming_text": streaming.text,
        "offline_text": offline.text,
    }


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def run_bench_asr(args: argparse.Namespace, config: PipelineConfig) -> int:
    if args.decode_cost is not None and args.clock != "virtual":
        print("--decode-cost is for the virtual clock: add --clock virtual", file=sys.stderr)
        return 2
    samples = args.samples_dir or default_samples_dir()
    clips = [c for c in read_manifest(samples) if c.path.parent.parent.name == "speech"]
    started = time.time()
    models = SpeechModels.load(config)
    translator = build_translation_stage(config, config.language)
    results = []
    for lang in args.languages:
        chosen = [c for c in clips if c.lang == lang]
        if not chosen:
            print(f"no clips for language {lang!r} in {samples}", file=sys.stderr)
            return 1
        times = f", {args.shifts} times" if args.shifts > 1 else ""
        print(f"[{lang}] streaming {len(chosen)} clips at {args.clock} time{times}…", file=sys.stderr, flush=True)
        results.append(
            bench_language(lang, chosen, config, models, args.clock, translator, args.decode_cost, args.shifts)
        )
    finals = [x for r in results for x in r["final_latencies"]]
    partials = [x for r in results for x in r["partial_latencies"]]
    translations = [x for r in results for x in r["translation_latencies"]]
    shown = [x for r in results for x in r["translation_shown_latencies"]]
    audio = sum(r["audio_seconds"] for r in results)
    report = {
        "benchmark": "asr",
        "model": config.model,
        "device": config.device,
        "language_setting": config.language or "auto",
        "clock": args.clock,
        "decode_cost": args.decode_cost,
        "shifts": args.shifts,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "overall": {
            "audio_seconds": round(audio, 2),
            "final_median": _pct(finals, 50),
            "final_p95": _pct(finals, 95),
            "partial_median": _pct(partials, 50),
            "partial_p95": _pct(partials, 95),
            "rtf": round(sum(r["rtf"] * r["audio_seconds"] for r in results) / audio, 3) if audio else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "targets": list(config.targets),
            "translation_median": _pct(translations, 50),
            "translation_p95": _pct(translations, 95),
            "translation_shown_median": _pct(shown, 50),
            "translation_shown_p95": _pct(shown, 95),
        },
        "languages": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(format_report(report))
    print(f"report: {args.out}", file=sys.stderr)
    return 0


def format_report(report: dict[str, Any]) -> str:
    o = report["overall"]
    lines = [
        f"livetrans bench asr — model {report['model']} ({report['device']}), clock {report['clock']}, "
        f"{report['machine']['cores']} cores, {report['machine']['cpu']}",
        *([f"each language replayed {report['shifts']} times (--shifts): error rates are the means"]
          if report.get("shifts", 1) > 1 else []),
        "",
        "| lang | audio s | final med | final p95 | partial med | RTF | streaming | offline | stream vs offline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["languages"]:
        lat = r["latency"]
        lines.append(
            f"| {r['language']} | {r['audio_seconds']:.0f} | {lat['final_median']} | {lat['final_p95']} | "
            f"{lat['partial_median']} | {r['rtf']:.2f} | {r['metric']} {r['streaming_error_rate']:.3f} | "
            f"{r['offline_error_rate']:.3f} | {r['streaming_vs_offline']:.3f} |"
        )
    lines.append(
        f"| all | {o['audio_seconds']:.0f} | {o['final_median']} | {o['final_p95']} | {o['partial_median']} | "
        f"{o['rtf']:.2f} | | | |"
    )
    lines.append(f"\npeak RSS {o['peak_rss_mb']} MB; partial p95 {o['partial_p95']} s")
    if o["targets"]:
        lines.append(
            f"translated captions ({','.join(o['targets'])}): word end → first translation showing it "
            f"(draft or final), median {o['translation_shown_median']} s, p95 {o['translation_shown_p95']} s; "
            f"→ final translation, median {o['translation_median']} s, p95 {o['translation_p95']} s"
        )
    return "\n".join(lines)
