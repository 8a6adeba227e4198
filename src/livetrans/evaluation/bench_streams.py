"""``livetrans bench streams``: many streams at once through one server process.

    livetrans bench streams --streams 1,2,3,4 [--audio FILE ...] [--seconds 45]
                            --out FILE [--no-batching | --batching-only]
                            [--device cuda] [--max-batch N]

Starts ``livetrans serve`` on a free loopback port (once with batched decoding and
once without, unless told one), and for each N replays N different clips at real
time over the ingest protocol (docs/protocol.md), each looped to ``--seconds``,
while a viewer per stream collects the captions. Reported per N and mode:
per-stream final latency (median, p95: word end in the offline transcript of the
same audio → the final that carried the word, as evaluation/latency.py measures
it), the server's CPU seconds per audio second of all streams, how often each stream
was decoded (decodes per stream-second), the mean batch size (both from /metrics) and
the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from ..core.batching import BatchOptions
from ..types import SAMPLE_RATE, Float32Array, Word

log = logging.getLogger(__name__)

TOKEN = "bench-streams"
FRAME_SECONDS = 0.1  # audio per ingest message
GAP_SECONDS = 1.0  # silence between the repeats of a looped clip
# Default clips: the longest bundled clip of each language, in this order.
LANGUAGES = ("en", "es", "fr", "zh", "de", "ru", "it", "pt", "ja", "ko")


@dataclass(frozen=True)
class StreamAudio:
    name: str  # the clip it loops
    samples: Float32Array
    reference: tuple[Word, ...]  # offline transcript of the same audio


def register(bench_commands: Any) -> None:
    """Add ``bench streams`` to the ``livetrans bench`` parser."""
    from ..options import csv_list, positive_int

    parser = bench_commands.add_parser(
        "streams", help="many streams through one server: latency, real-time factor, batch size, memory",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--streams", type=csv_list, default=("1", "2", "3", "4"), help="stream counts (default: 1,2,3,4)")
    parser.add_argument("--audio", type=Path, nargs="*", default=(), help="clips (default: the bundled samples/speech, one per language)")
    parser.add_argument("--seconds", type=float, default=45.0, help="audio per stream; a shorter clip is looped (default: 45)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON report")
    parser.add_argument("--model", default="base", help="speech model (default: base)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where serve runs the model (default: cpu)")
    parser.add_argument("--max-batch", type=positive_int, default=BatchOptions.max_batch, help="serve's --max-batch (default: %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-batching", dest="modes", action="store_const", const=("unbatched",), help="only the server without batched decoding")
    mode.add_argument("--batching-only", dest="modes", action="store_const", const=("batched",), help="only the server with batched decoding")
    parser.set_defaults(handler=run_bench_streams, modes=("batched", "unbatched"))


def run_bench_streams(args: argparse.Namespace) -> int:
    counts = [int(n) for n in args.streams]
    audio = stream_audio(list(args.audio), max(counts), args.seconds, args.model)
    report: dict[str, Any] = {"benchmark": "streams", "model": args.model, "seconds": args.seconds,
                              "device": args.device, "max_batch": args.max_batch, "runs": []}  # fmt: skip
    from .bench_asr import machine

    report["machine"] = machine()
    for mode in args.modes:
        with ServerProcess(args.model, batching=mode == "batched", device=args.device, max_batch=args.max_batch) as server:
            for n in counts:
                result = asyncio.run(measure(server, audio[:n]))
                result.update(mode=mode, streams=n)
                report["runs"].append(result)
                print(row(result), file=sys.stderr, flush=True)
    report["machine"]["load_average_1m_after"] = machine()["load_average_1m"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(table(report["runs"]))
    print(args.out)
    return 0


def stream_audio(paths: list[Path], count: int, seconds: float, model: str) -> list[StreamAudio]:
    """``count`` streams of different clips (repeated when there are fewer), each looped
    to ``seconds``, with its offline transcript."""
    from ..asr.offline import transcribe_offline
    from ..pipeline import PipelineConfig, SpeechModels
    from ..sources import load_audio

    paths = paths or default_clips()
    models = SpeechModels.load(PipelineConfig(model=model), progress=False)
    out = []
    for i in range(count):
        path = paths[i % len(paths)]
        samples = looped(load_audio(path), seconds)
        transcript = transcribe_offline(models.whisper, samples)
        out.append(StreamAudio(path.name, samples, transcript.words))
    return out


def default_clips() -> list[Path]:
    from .command import default_samples_dir
    from .conditions import read_manifest

    clips = [c for c in read_manifest(default_samples_dir()) if c.path.parent.parent.name == "speech"]
    longest: dict[str, Any] = {}
    for clip in clips:
        if clip.lang not in longest or clip.duration > longest[clip.lang].duration:
            longest[clip.lang] = clip
    return [longest[lang].path for lang in LANGUAGES if lang in longest]


def looped(clip: Float32Array, seconds: float) -> Float32Array:
    """The clip and a pause, repeated whole until at least ``seconds`` long."""
    unit = np.concatenate([clip, np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)])
    repeats = max(1, int(np.ceil(seconds * SAMPLE_RATE / len(unit))))
    return np.tile(unit, repeats).astype(np.float32)


class ServerProcess:
    """``livetrans serve`` on a free loopback port, as a child process."""

    def __init__(self, model: str, *, batching: bool, device: str = "cpu", max_batch: int = BatchOptions.max_batch) -> None:
        command = [sys.executable, "-m", "livetrans.cli", "serve", "--port", "0", "--token", TOKEN,
                   "--no-journal", "--control-port", "off", "--model", model, "--print", "none",
                   "--device", device, "--max-batch", str(max_batch),
                   "--max-load", "0"]  # fmt: skip  (every stream admitted: the benchmark measures overload too)
        command.append("--batching" if batching else "--no-batching")
        self.command = command
        self.port = 0
        self.lines: list[str] = []

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if found := re.match(r"livetrans server on http://127\.0\.0\.1:(\d+)", line):
                    self.port = int(found.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(180) or not self.port:
            self.__exit__()
            raise RuntimeError("the server did not start: " + "".join(self.lines)[-2000:])
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def metrics(self) -> dict[str, float]:
        return read_metrics(self.metrics_text())

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            body: bytes = response.read()
            return body.decode()


# The process-wide /metrics figures the benchmark reads (each a delta over a run).
READ_METRICS = (
    "livetrans_decode_batch_size_sum", "livetrans_decode_batch_size_count", "livetrans_decode_busy_seconds_total",
    "livetrans_decode_batch_failures_total", "livetrans_decodes_total",
)


def realtime_factors(text: str) -> dict[str, float]:
    """Each live stream's ``livetrans_realtime_factor`` (what the admission rule reads)."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r'^livetrans_realtime_factor\{stream="([^"]+)"\} (\S+)$', text, re.MULTILINE)}


def read_metrics(text: str) -> dict[str, float]:
    """The :data:`READ_METRICS` present in Prometheus text ``text``."""
    out: dict[str, float] = {}
    for name in READ_METRICS:
        if found := re.search(rf"^{name} (\S+)$", text, re.MULTILINE):
            out[name] = float(found.group(1))
    return out


async def measure(server: ServerProcess, streams: list[StreamAudio]) -> dict[str, Any]:
    """Replay ``streams`` at once; the figures of that run."""
    import psutil

    from .latency import LatencyStats

    process = psutil.Process(server.process.pid)
    before, cpu_before = await asyncio.to_thread(server.metrics), process.cpu_times()
    peak = [process.memory_info().rss]
    factors: dict[str, float] = {}  # each stream's last real-time factor while it was live
    done = asyncio.Event()

    async def sample_server() -> None:
        tick = 0
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            if tick % 10 == 0:
                factors.update(realtime_factors(await asyncio.to_thread(server.metrics_text)))
            tick += 1
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample_server())
    started = time.monotonic()
    per_stream = await asyncio.gather(*(replay_stream(server.port, f"s{i}", s) for i, s in enumerate(streams)))
    wall = time.monotonic() - started
    done.set()
    await sampler
    after, cpu_after = await asyncio.to_thread(server.metrics), process.cpu_times()
    audio_seconds = sum(len(s.samples) for s in streams) / SAMPLE_RATE
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("livetrans_decode_batch_size_count")
    pooled = LatencyStats((), (), 0, 0)
    for stats in per_stream:
        pooled = pooled.merged(stats)
    return {
        "per_stream": [{"clip": s.name, **stats.summary()} for s, stats in zip(streams, per_stream)],
        "pooled": pooled.summary(),
        "cpu_rtf": round(cpu / audio_seconds, 3),  # server CPU seconds per audio second, all streams
        # how often each stream was decoded: fewer per second when the machine is busy
        "decodes_per_second": round(delta("livetrans_decodes_total") / audio_seconds, 2),
        "decode_busy_rtf": round(delta("livetrans_decode_busy_seconds_total") / audio_seconds, 3) if batches else None,
        "mean_batch_size": round(delta("livetrans_decode_batch_size_sum") / batches, 2) if batches else None,
        "batches": int(batches),
        "failed_batches": int(delta("livetrans_decode_batch_failures_total")),
        "peak_rss_mb": round(peak[0] / 2**20, 1),
        # what the admission rule would have read (server/admission.py)
        "realtime_factors": [round(factors[k], 3) for k in sorted(factors)],
        "wall_seconds": round(wall, 1),
    }


async def replay_stream(port: int, name: str, stream: StreamAudio) -> Any:
    """One encoder at real time and one viewer; the stream's word latencies."""
    from websockets.asyncio.client import connect

    from ..core.events import event_from_dict
    from .latency import word_latencies

    base = f"ws://127.0.0.1:{port}/v1/streams/{name}"
    pcm = (np.clip(stream.samples, -1, 1) * 32767).astype("<i2").tobytes()
    frame_bytes = int(FRAME_SECONDS * SAMPLE_RATE) * 2
    async with connect(f"{base}/ingest?token={TOKEN}", ping_interval=None, max_queue=None) as encoder:
        await encoder.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "format": "s16le", "language": "auto"}))
        started = json.loads(await encoder.recv())
        if started.get("type") != "started":
            raise RuntimeError(f"stream {name} did not start: {started}")
        async with connect(f"{base}/captions", ping_interval=None, max_queue=None) as viewer:
            messages: list[dict[str, Any]] = []

            async def watch() -> None:
                async for raw in viewer:
                    message = json.loads(raw)
                    if message.get("type") == "end":
                        return
                    messages.append(message)

            watcher = asyncio.create_task(watch())
            origin = time.monotonic()
            for index, first in enumerate(range(0, len(pcm), frame_bytes)):
                # Real time: a frame is sent once all of its audio has been "spoken".
                await asyncio.sleep(max(0.0, origin + (index + 1) * FRAME_SECONDS - time.monotonic()))
                await encoder.send(pcm[first : first + frame_bytes])
            await encoder.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(watcher, timeout=300)
    events = [event_from_dict(m) for m in messages if m.get("type") in ("caption", "sentence")]
    return word_latencies(events, stream.reference)


def row(result: dict[str, Any]) -> str:
    pooled = result["pooled"]
    return (
        f"{result['mode']:>9} N={result['streams']}  final median {pooled['final_median']} s  "
        f"p95 {pooled['final_p95']} s  cpu rtf {result['cpu_rtf']}  decodes/s {result['decodes_per_second']}  "
        f"batch {result['mean_batch_size']}  "
        f"rss {result['peak_rss_mb']} MB  realtime factors {result.get('realtime_factors')}"
    )


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one row per mode and stream count; the worst stream's figures too."""
    lines = [
        "| mode | streams | final median (s) | final p95 (s) | worst stream median / p95 (s) | CPU RTF | decodes per stream-second | mean batch | peak RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        worst = max(r["per_stream"], key=lambda s: s["final_median"] or 0.0)
        lines.append(
            f"| {r['mode']} | {r['streams']} | {r['pooled']['final_median']} | {r['pooled']['final_p95']} | "
            f"{worst['final_median']} / {worst['final_p95']} | {r['cpu_rtf']} | {r['decodes_per_second']} | "
            f"{r['mean_batch_size'] or '-'} | "
            f"{r['peak_rss_mb']} |"
        )
    return "\n".join(lines)
