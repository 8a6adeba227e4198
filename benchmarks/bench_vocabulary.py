"""Product names with and without the vocabulary (issue 23), offline and live.

    python benchmarks/bench_vocabulary.py --out reports/bench-vocabulary.json [--audio-dir DIR]

Speech: the sentences of ``livetrans.evaluation.vocabulary`` (60 names of several
brands; English by Piper joe and espeak-ng en-us, Spanish by espeak-ng es-419,
Mandarin by espeak-ng from pinyin), each voice's sentences one stream with 0.8-1.6 s
pauses (seeded), and a control stream per language that names no product. Every
stream is decoded four ways: offline (VAD + batched beam 5) and live (the streaming
recogniser on the virtual clock, a decode charged ``--decode-cost`` s), each without
and with the vocabulary (every name, with its language, plus a few names never said).

Reported per stream and condition: term recall (names written as the list writes
them / names said), WER (CER for Mandarin) against the sentences, and false
insertions (names written more often than said; on control streams, any name).
Then respelling alone on ordinary text that names no product (``--flores``: the
FLORES dev sentences in English, Spanish and Mandarin, every word, or Chinese
character, as if written surely, then doubted): each sentence changed is a false
hit of the near-miss rules. ``--real``: instead, the real clean clips of
samples/ in English, Spanish and Mandarin (tuning and held-out), none naming a
product, each clip a stream of its own, so the list is right before its first words:
mean WER (CER) by language and path, and names written, without and with the list.
Synthetic voices: the transferable figure is the with/without difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Container
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from livetrans.core.vocabulary import Vocabulary
from livetrans.evaluation.conditions import SAMPLE_SETS, read_manifest
from livetrans.evaluation.latency import word_latencies
from livetrans.evaluation.metrics import error_rate
from livetrans.evaluation.replay import offline_transcribe, replay
from livetrans.evaluation.vocabulary import (
    CONTROL,
    EN,
    ES,
    ZH,
    ProductSentence,
    product_vocabulary,
    respelt_everyday,
    score_terms,
)
from livetrans.evaluation.voices import MANDARIN_VOICE, Voice, synthesize
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.sources import load_audio

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

VOICES = {
    "en-piper": Voice("piper", "en_US-joe-medium", "en", "US English, neural (Piper joe)"),
    "en-espeak": Voice("espeak-ng", "en-us", "en", "US English (espeak-ng)"),
    "es-espeak": Voice("espeak-ng", "es-419", "es", "Latin American Spanish (espeak-ng)"),
    "zh-espeak": MANDARIN_VOICE,
}
PRODUCT_STREAMS = {"en-piper": EN, "en-espeak": EN, "es-espeak": ES, "zh-espeak": ZH}
CONTROL_STREAMS = {
    "en-piper-control": ("en-piper", "en"),
    "es-espeak-control": ("es-espeak", "es"),
    "zh-espeak-control": ("zh-espeak", "zh"),
}


def spoken(voice: Voice, sentences: tuple[ProductSentence, ...], seed: int, audio_dir: Path | None, name: str) -> np.ndarray:
    if audio_dir is not None and (audio_dir / f"{name}.wav").exists():
        audio, _ = soundfile.read(audio_dir / f"{name}.wav", dtype="float32")
        return np.asarray(audio, dtype=np.float32)
    rng = np.random.default_rng(seed)
    parts = [np.zeros(8000, np.float32)]
    for sentence in sentences:
        parts.append(synthesize(voice, sentence.text))
        parts.append(np.zeros(int(rng.uniform(0.8, 1.6) * 16000), np.float32))
    audio = np.concatenate(parts)
    if audio_dir is not None:
        audio_dir.mkdir(parents=True, exist_ok=True)
        soundfile.write(audio_dir / f"{name}.wav", audio, 16000, subtype="FLOAT")
    return audio


@dataclass
class Row:
    stream: str
    mode: str  # offline | live
    vocabulary: bool
    said: int
    recalled: int
    inserted: int
    error_rate: float
    seconds: float
    text: str
    final_median: float | None = None  # live: final latency (s) of the words offline also wrote
    final_p95: float | None = None


def run_stream(
    name: str, audio: np.ndarray, sentences: tuple[ProductSentence, ...], lang: str,
    vocabulary: Vocabulary, models: SpeechModels, config: PipelineConfig, glossary: Path, decode_cost: float,
) -> list[Row]:
    rows = []
    reference = " ".join(s.text for s in sentences)
    for with_vocabulary in (False, True):
        cfg = replace(config, language=lang, glossary=glossary if with_vocabulary else None)
        offline_words: tuple = ()
        for mode in ("offline", "live"):
            started = time.perf_counter()
            latency: dict = {}
            if mode == "offline":
                offline = offline_transcribe(audio, config=cfg, models=models)
                text, offline_words = offline.text, offline.words
            else:
                result = replay(audio, config=cfg, models=models, clock="virtual", decode_cost=decode_cost)
                text, latency = result.text, word_latencies(result.events, offline_words).summary()
            score = score_terms(sentences, text, vocabulary)
            row = Row(name, mode, with_vocabulary, score.said, score.recalled, score.inserted,
                      error_rate(reference, text, lang), time.perf_counter() - started, text,
                      latency.get("final_median"), latency.get("final_p95"))
            shown = f"  final {row.final_median} / {row.final_p95} s" if mode == "live" else ""
            print(f"{name:18} {mode:7} vocab={'yes' if with_vocabulary else 'no ':3} recall {row.recalled}/{row.said}"
                  f"  inserted {row.inserted}  WER {row.error_rate:.1%}{shown}  ({row.seconds:.0f} s)", file=sys.stderr)
            rows.append(row)
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| stream | mode | vocabulary | term recall | WER/CER | false insertions | final median / p95 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        recall = f"{r.recalled}/{r.said} ({r.recalled / r.said:.0%})" if r.said else "—"
        latency = f"{r.final_median} / {r.final_p95} s" if r.final_median is not None else "—"
        lines.append(f"| {r.stream} | {r.mode} | {'with' if r.vocabulary else 'without'} | {recall} | {r.error_rate:.1%}"
                     f" | {r.inserted} | {latency} |")
    for mode in ("offline", "live"):
        for flag in (False, True):
            picked = [r for r in rows if r.mode == mode and r.vocabulary == flag]
            said = sum(r.said for r in picked)
            recalled = sum(r.recalled for r in picked)
            inserted = sum(r.inserted for r in picked)
            lines.append(f"| **all** | {mode} | {'with' if flag else 'without'} | **{recalled}/{said} ({recalled / said:.0%})** |"
                         f" | **{inserted}** | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="base")
    parser.add_argument("--decode-cost", type=float, default=0.3)
    parser.add_argument("--audio-dir", type=Path, default=None, help="keep each stream's audio here and reuse it")
    parser.add_argument("--streams", default=",".join([*PRODUCT_STREAMS, *CONTROL_STREAMS]))
    parser.add_argument("--flores", type=Path, default=SAMPLES / "mt" / "testsets" / "flores",
                        help="ordinary text to count false respellings on (FLORES dev, en and es)")
    parser.add_argument("--real", action="store_true", help="real clean clips naming no product, instead of the synthetic streams")
    args = parser.parse_args()
    vocabulary = product_vocabulary()
    config = PipelineConfig(model=args.model)
    models = SpeechModels.load(config)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as work:
        glossary = Path(work) / "vocabulary.json"
        glossary.write_text(json.dumps({"terms": [{"term": t.term, "source": _code(t.source)} for t in vocabulary.terms]},
                                       ensure_ascii=False), "utf-8")
        if args.real:
            real = real_speech(vocabulary, models, config, glossary, args.decode_cost)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"real": real}, ensure_ascii=False, indent=1), "utf-8")
            return 0
        for i, name in enumerate(args.streams.split(",")):
            if name in PRODUCT_STREAMS:
                voice, sentences, lang = VOICES[name], PRODUCT_STREAMS[name], VOICES[name].lang
            else:
                voice_name, lang = CONTROL_STREAMS[name]
                voice, sentences = VOICES[voice_name], tuple(s for s in CONTROL if s.lang == lang)
            audio = spoken(voice, sentences, i, args.audio_dir, name)
            rows.extend(run_stream(name, audio, sentences, lang, vocabulary, models, config, glossary, args.decode_cost))
    print(table(rows))
    false_hits = everyday_false_hits(vocabulary, args.flores, models.whisper.everyday_words)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"streams": [r.__dict__ for r in rows], "everyday_respelt": false_hits},
                                   ensure_ascii=False, indent=1), "utf-8")
    return 0


def real_speech(vocabulary: Vocabulary, models: SpeechModels, config: PipelineConfig, glossary: Path,
                decode_cost: float) -> list[dict[str, Any]]:
    """The real clean clips in English, Spanish and Mandarin, each a stream, decoded
    offline and live without and with the vocabulary; prints the mean error rate by
    language, path and vocabulary, and the names written (none is said)."""
    rows: list[dict[str, Any]] = []
    clips = [c for c in read_manifest(SAMPLES, SAMPLE_SETS) if c.lang in ("en", "es", "zh")]
    for clip in clips:
        audio = load_audio(str(clip.path))
        for with_vocabulary in (False, True):
            cfg = replace(config, language=clip.lang, glossary=glossary if with_vocabulary else None)
            texts = {"offline": offline_transcribe(audio, config=cfg, models=models).text,
                     "live": replay(audio, config=cfg, models=models, clock="virtual", decode_cost=decode_cost).text}
            for mode, text in texts.items():
                rows.append({"clip": clip.key, "set": clip.sample_set, "lang": clip.lang, "mode": mode,
                             "vocabulary": with_vocabulary, "error_rate": error_rate(clip.reference, text, clip.lang),
                             "inserted": score_terms((), text, vocabulary).inserted, "text": text})
        print(f"{clip.key}: done", file=sys.stderr)
    for lang in ("en", "es", "zh"):
        for mode in ("offline", "live"):
            rates = []
            for flag in (False, True):
                picked = [r for r in rows if r["lang"] == lang and r["mode"] == mode and r["vocabulary"] == flag]
                mean = sum(r["error_rate"] for r in picked) / len(picked)
                rates.append(f"{mean:.2%} ({sum(r['inserted'] for r in picked)} names)")
            print(f"real {lang} {mode}, {len(picked)} clips, mean WER/CER without -> with: {rates[0]} -> {rates[1]}")
    return rows


def everyday_false_hits(vocabulary: Vocabulary, flores: Path, everyday: Container[str]) -> dict[str, list[str]]:
    """False hits of respelling on ordinary text: the FLORES dev sentences (no product
    names) as if Whisper wrote them surely (0.95) or doubted every word (0.5)."""
    found: dict[str, list[str]] = {}
    for lang in ("en", "es", "zh"):
        sentences = (flores / f"flores-dev.{lang}").read_text("utf-8").splitlines()
        for probability in (0.95, 0.5):
            changed = respelt_everyday(vocabulary, sentences, lang, probability, everyday)
            found[f"{lang} p={probability}"] = changed
            print(f"everyday text respelt: {lang}, {len(sentences)} FLORES dev sentences, every word at p={probability}: "
                  f"{len(changed)}" + "".join(f"\n    {c}" for c in changed[:5]), file=sys.stderr)
    return found


def _code(flores: str | None) -> str | None:
    return {"eng_Latn": "en", "spa_Latn": "es", "zho_Hans": "zh"}.get(flores or "", None)


if __name__ == "__main__":
    sys.exit(main())
