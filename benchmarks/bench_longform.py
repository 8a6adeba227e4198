"""Streaming vs offline WER on long synthetic streams: a few minutes of read sentences
instead of the bundled clips' 134 English words, where one word is 0.7 points.

    python benchmarks/bench_longform.py --out reports/bench-longform.json [--streams en,en-noisy,es]

Each stream is FLORES-dev sentences (samples/mt/testsets/flores) without digits,
spoken by a synthetic voice (Piper joe for English, espeak-ng es-419 for Spanish:
docs/eval.md says what they are), cut at commas with 0.1-0.9 s pauses and separated
by 0.4-2.5 s pauses (seeded), so the pause handling of the streaming path is
exercised as a speaker's would be. ``en-noisy`` is the English stream with
restaurant noise at 10 dB SNR. Streams are replayed on the virtual clock, a decode
charged ``--decode-cost`` seconds, so the outcome does not depend on how busy the
machine is; latencies printed are that clock's, not the real one's.
The voices are synthetic: the figure that transfers is the streaming-minus-offline
gap on the same audio, not the WER itself.

Piper speaks a little differently on every run (its VITS model samples noise inside
the ONNX graph, unseeded: the English stream came out 197 s one run and 198 s the
next, offline WER 9.0 against 9.7 %). To compare two versions of the recogniser on
the same audio, give both runs the same ``--audio-dir``: each stream is written there
(32-bit float WAV) the first time and read back afterwards.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile

from livetrans.evaluation.bench_asr import default_samples_dir
from livetrans.evaluation.latency import word_latencies
from livetrans.evaluation.metrics import error_rate
from livetrans.evaluation.mixing import mix_at_snr
from livetrans.evaluation.replay import offline_transcribe, replay
from livetrans.evaluation.voices import ESPEAK_VOICES, PIPER_VOICES, Voice, synthesize
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.sources import load_audio
from livetrans.types import SAMPLE_RATE

STREAMS = {  # name: (language, voice, sentences, first FLORES line, noise)
    "en": ("en", PIPER_VOICES[0], 26, 300, None),
    "en-noisy": ("en", PIPER_VOICES[0], 26, 300, "restaurant_ambiance_soundbible.flac"),
    "es": ("es", ESPEAK_VOICES[6], 16, 500, None),
}


def sentences(samples: Path, lang: str, count: int, first: int) -> list[str]:
    flores = samples / "mt" / "testsets" / "flores"
    lines = (flores / f"flores-dev.{lang}").read_text(encoding="utf-8").splitlines()
    english = (flores / "flores-dev.en").read_text(encoding="utf-8").splitlines()
    chosen = []
    for line, en in zip(lines[first:], english[first:]):
        # Digits and quotes are written in too many ways for a WER to be fair.
        if re.search(r"[0-9()\"“]", line) or re.search(r"[0-9]", en) or len(line) > 220:
            continue
        chosen.append(line)
        if len(chosen) == count:
            break
    return chosen


def speak(voice: Voice, lines: list[str], rng: np.random.Generator) -> np.ndarray:
    parts = [np.zeros(int(0.8 * SAMPLE_RATE), np.float32)]
    for line in lines:
        pieces = [p for p in re.split(r"(?<=,) ", line) if p]
        for i, piece in enumerate(pieces):
            parts.append(synthesize(voice, piece).astype(np.float32))
            if i < len(pieces) - 1:
                parts.append(np.zeros(int(rng.choice([0.1, 0.3, 0.5, 0.7, 0.9]) * SAMPLE_RATE), np.float32))
        parts.append(np.zeros(int(rng.choice([0.4, 0.7, 1.0, 1.5, 2.5]) * SAMPLE_RATE), np.float32))
    return np.concatenate(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--streams", default="en,en-noisy,es")
    parser.add_argument("--model", default="base")
    parser.add_argument("--decode-cost", type=float, default=0.3)
    parser.add_argument("--samples-dir", type=Path, default=None)
    parser.add_argument("--audio-dir", type=Path, default=None, help="keep each stream's audio here and reuse it")
    args = parser.parse_args()
    samples = args.samples_dir or default_samples_dir()
    config = PipelineConfig(model=args.model)
    models = SpeechModels.load(config)
    report = {}
    for name in args.streams.split(","):
        if name not in STREAMS:
            print(f"unknown stream {name!r}: choose from {', '.join(STREAMS)}", file=sys.stderr)
            return 2
        lang, voice, count, first, noise = STREAMS[name]
        lines = sentences(samples, lang, count, first)
        kept = args.audio_dir / f"{name}.wav" if args.audio_dir else None
        if kept is None or not kept.exists():
            audio = speak(voice, lines, np.random.default_rng(7))
            if noise:
                bed = load_audio(samples / "noise" / noise)
                audio, _ = mix_at_snr(audio, bed, 10.0, np.random.default_rng(3))
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(kept, audio, SAMPLE_RATE, subtype="FLOAT")
        if kept is not None:  # read back even the first time, so every run hears the same samples
            audio = load_audio(kept)
        reference = " ".join(lines)
        print(f"{name}: {len(audio) / SAMPLE_RATE:.0f} s, {len(reference.split())} words", flush=True)
        offline = offline_transcribe(audio, config=config, models=models)
        streaming = replay(audio, config=config, models=models, clock="virtual", decode_cost=args.decode_cost)
        stream_wer = error_rate(reference, streaming.text, lang)
        offline_wer = error_rate(reference, offline.text, lang)
        report[name] = {
            "seconds": round(len(audio) / SAMPLE_RATE, 1),
            "streaming_wer": round(stream_wer, 4),
            "offline_wer": round(offline_wer, 4),
            "gap_points": round(100 * (stream_wer - offline_wer), 2),
            "virtual_latency": word_latencies(streaming.events, offline.words).summary(),
            "streaming_text": streaming.text,
            "offline_text": offline.text,
        }
        print(
            f"  streaming WER {100 * stream_wer:.1f} %, offline {100 * offline_wer:.1f} %, "
            f"gap {100 * (stream_wer - offline_wer):+.1f} points",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
