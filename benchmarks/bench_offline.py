"""Offline transcription against plain faster-whisper, clean and in noise (issue 22, item 4).

    python benchmarks/bench_offline.py --noises crowd --out reports/offline-crowd.json
    python benchmarks/bench_offline.py --report reports/offline-*.json

Audio: every speech clip of ``--samples-dir``/MANIFEST.tsv with a reference (or the
``--clips`` named by key or language; ``--set`` keeps the rows of that MANIFEST
``set``), clean and mixed with each noise of ``--samples-dir``/noise at each
``--snrs`` dB, rendered by the robustness suite's ``ConditionLibrary`` (the same
seeded noise offsets, the same mixing), so the audio is the suite's.

Each condition is transcribed twice with the same model files:

- ``livetrans``: ``transcribe_offline`` (asr/offline.py, as
  ``livetrans transcribe FILE`` does), the language detected;
- ``plain``: faster-whisper's ``WhisperModel.transcribe(audio, beam_size=5,
  vad_filter=True)``, everything else at its defaults.

``--variant NAME=JSON`` (repeatable) runs livetrans with other ``OfflineOptions``
beside each other; ``--plain-from`` reuses plain faster-whisper's text of earlier runs.
Scored with ``error_rate`` (WER; CER for zh/ja/ko). The table pools errors over
reference words (characters for CER languages) per language, per noise and overall;
``--report`` prints it again from one or more saved JSON files (run the benchmark in
pieces, e.g. one noise at a time, then join them).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel

from livetrans.asr.offline import OfflineOptions, transcribe_offline
from livetrans.asr.whisper import compute_type_for
from livetrans.core.guards import GuardOptions
from livetrans.core.stabilizer import join_words
from livetrans.evaluation.conditions import (
    ConditionLibrary,
    ConditionSpec,
    noise_type,
    nonspeech_specs,
    speech_specs,
)
from livetrans.evaluation.metrics import error_rate, word_count
from livetrans.pipeline import PipelineConfig, SpeechModels

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "plain"


def manifest_sets(samples_dir: Path) -> dict[str, str]:
    """Clip key or noise type → the MANIFEST ``set`` column ("" where it has none)."""
    with (samples_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    sets = {Path(r["path"]).stem: (r.get("set") or "") for r in rows if r["kind"] == "speech"}
    sets.update({noise_type(Path(r["path"])): (r.get("set") or "") for r in rows if r["kind"] == "noise"})
    return sets


def plan(library: ConditionLibrary, args: argparse.Namespace) -> list[ConditionSpec]:
    sets = manifest_sets(library.samples_dir)
    clips = [
        c
        for c in library.clips
        if (not args.clips or c.key in args.clips or c.lang in args.clips)
        and (args.set is None or sets.get(c.key, "") == args.set)
    ]
    noises = [
        n
        for n in library.noise_paths
        if (not args.noises or n in args.noises) and (args.set is None or sets.get(n, "") == args.set)
    ]
    specs = [s for s in speech_specs(clips, noises, tuple(args.snrs)) if s.kind == "noise" or not args.no_clean]
    return specs + (nonspeech_specs(args.nonspeech) if args.nonspeech > 0 else [])


def plain_text(model: WhisperModel, audio: Any) -> tuple[str, str]:
    segments, info = model.transcribe(audio, beam_size=5, vad_filter=True)
    return "".join(s.text for s in segments).strip(), str(info.language)


def saved_plain(paths: list[Path]) -> dict[str, tuple[str, str]]:
    """Condition name → (text, language) of plain faster-whisper in earlier runs."""
    return {
        r["name"]: (r["plain_text"], r["plain_lang"])
        for path in paths
        for r in json.loads(path.read_text("utf-8"))["rows"]
    }


def scored(row: dict[str, Any], mode: str, text: str, lang: str, seconds: float | None) -> None:
    scoring = row["lang"] if row["lang"] != "none" else "en"
    row[f"{mode}_text"] = text
    row[f"{mode}_lang"] = lang
    row[f"{mode}_error"] = error_rate(row["reference"], text, scoring)
    row[f"{mode}_words"] = word_count(text, lang or scoring)
    row[f"{mode}_seconds"] = None if seconds is None else round(seconds, 2)


def run(args: argparse.Namespace, variants: dict[str, tuple[OfflineOptions, GuardOptions]]) -> list[dict[str, Any]]:
    library = ConditionLibrary(args.samples_dir, seed=args.seed)
    specs = plan(library, args)
    config = PipelineConfig(model=args.model)
    models = SpeechModels.load(config, progress=False)
    vocabulary = config.load_vocabulary()
    earlier = saved_plain(args.plain_from or [])
    plain: WhisperModel | None = None
    rows: list[dict[str, Any]] = []
    for spec in specs:
        audio = library.render(spec).audio
        row: dict[str, Any] = {
            "name": spec.name, "kind": spec.kind, "clip": spec.clip, "lang": spec.lang,
            "noise": spec.noise or "clean", "snr_db": spec.snr_db, "reference": spec.reference,
            "units": word_count(spec.reference, spec.lang if spec.lang != "none" else "en"),
        }
        for mode, (options, guards) in variants.items():
            started = time.perf_counter()
            # As ``livetrans transcribe FILE`` does (and offline_transcribe).
            transcript = transcribe_offline(
                models.whisper, audio, language=config.language, vocabulary=vocabulary, options=options,
                guards=guards,
            )
            scored(row, mode, join_words(transcript.words), transcript.language, time.perf_counter() - started)
        if spec.name in earlier:
            scored(row, PLAIN, *earlier[spec.name], None)
        else:
            if plain is None:
                plain = WhisperModel(str(models.whisper.model_path), device="cpu", compute_type=compute_type_for("cpu"))
            started = time.perf_counter()
            scored(row, PLAIN, *plain_text(plain, audio), time.perf_counter() - started)
        rows.append(row)
        errors = "  ".join(f"{m} {row[f'{m}_error']:6.3f}" for m in [*variants, PLAIN])
        print(f"{spec.name:60} {errors}", file=sys.stderr, flush=True)
    return rows


def pooled(rows: Iterable[dict[str, Any]], mode: str) -> tuple[float, int]:
    """Errors over reference units (words, or characters for CER languages), and the clip count."""
    chosen = list(rows)
    units = sum(r["units"] for r in chosen)
    errors = sum(r[f"{mode}_error"] * r["units"] for r in chosen)
    return (errors / units if units else 0.0), len(chosen)


def variant(text: str) -> tuple[str, tuple[OfflineOptions, GuardOptions]]:
    """``NAME=JSON``: a name for the table and the OfflineOptions fields that differ;
    a ``"guards"`` object in it holds the GuardOptions fields that differ."""
    name, _, fields = text.partition("=")
    values = json.loads(fields or "{}")
    guards = GuardOptions(**values.pop("guards", {}))
    return name, (OfflineOptions(**values), guards)


def condition_of(row: dict[str, Any]) -> str:
    return "clean" if row["noise"] == "clean" else f"{row['noise']} {row['snr_db']:g}dB"


def table(rows: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in (r for r in rows if r.get("kind") != "nonspeech"):
        noisy = row["noise"] != "clean"
        groups[f"lang {row['lang']} {'noisy' if noisy else 'clean'}"].append(row)
        groups[f"noise {condition_of(row)}"].append(row)
        groups["all noisy" if noisy else "all clean"].append(row)
    modes = [k[: -len("_error")] for k in rows[0] if k.endswith("_error") and k != f"{PLAIN}_error"] if rows else []
    modes.append(PLAIN)
    lines = [f"{'group':24} {'n':>4} " + " ".join(f"{m:>10}" for m in modes)]
    for name in sorted(groups, key=lambda g: (g.startswith("all"), g)):
        rates = " ".join(f"{100 * pooled(groups[name], m)[0]:9.1f}%" for m in modes)
        lines.append(f"{name:24} {len(groups[name]):4d} {rates}")
    for row in (r for r in rows if r.get("kind") == "nonspeech"):
        written = ", ".join(f"{m} {row[f'{m}_words']}" for m in modes)
        lines.append(f"{row['name']:24} words written: {written}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples-dir", type=Path, default=ROOT / "samples")
    parser.add_argument("--clips", nargs="*", default=[], help="clip keys or languages (default: all)")
    parser.add_argument("--noises", nargs="*", default=[], help="noise types, e.g. crowd kitchen (default: all)")
    parser.add_argument("--snrs", nargs="*", type=float, default=[10.0], help="dB (default: 10)")
    parser.add_argument("--no-clean", action="store_true", help="skip the clean clips")
    parser.add_argument(
        "--nonspeech", type=float, default=0.0, help="also this many seconds of noise, music, silence alone"
    )
    parser.add_argument("--set", default=None, help="only clips and noises of this MANIFEST set (e.g. heldout)")
    parser.add_argument(
        "--variant", action="append", type=variant, default=[],
        help='NAME=JSON: livetrans with these OfflineOptions, e.g. before=\'{"bucket": 20}\' (default: livetrans=)',
    )
    parser.add_argument("--plain-from", nargs="*", type=Path, help="reuse plain faster-whisper's text from these JSON files")
    parser.add_argument("--model", default="base")
    parser.add_argument("--seed", type=int, default=0, help="the suite seed (noise offsets)")
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    parser.add_argument("--report", nargs="+", type=Path, help="print the table of saved JSON files, run nothing")
    args = parser.parse_args(argv)
    if args.report:
        rows = [r for path in args.report for r in json.loads(path.read_text("utf-8"))["rows"]]
    else:
        rows = run(args, dict(args.variant or [("livetrans", (OfflineOptions(), GuardOptions()))]))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            meta = {k: str(v) for k, v in vars(args).items() if k != "report"}
            args.out.write_text(json.dumps({"args": meta, "rows": rows}, ensure_ascii=False, indent=1), "utf-8")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
