"""HLS subtitle segments: how far they lag the audio, and how many bytes they cost.

One caption server (in this process) with the real pipeline; an encoder pushes a
clip at real time through the ingest protocol; the packager's segments are read
at the end. Reported:

- the lag of each subtitle segment behind the audio: the stream time its
  publishing event was emitted minus the segment's end (both on the stream's
  clock, so the figure is the server's alone), p50 and p95;
- the final-caption latency of the same run (emitted_at minus the final's end),
  p50 and p95, and the target: p95 lag <= one segment + final p95;
- WebVTT bytes per minute per language (segments as served, headers included).

    python benchmarks/bench_hls.py                                  # demo clip, base, 2 s segments
    python benchmarks/bench_hls.py --model tiny.en --language en --audio samples/speech/en/jfk_inaugural_1961.flac
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from livetrans.core.hls import HlsOptions
    from livetrans.pipeline import PipelineConfig, SpeechModels
    from livetrans.server.app import CaptionServer, ServerConfig
    from livetrans.server.hls import HlsConfig
    from livetrans.server.pipelines import LivePipelineFactory
    from livetrans.sources import load_audio

    audio = np.concatenate([load_audio(path) for path in args.audio] + [np.zeros(32_000, np.float32)])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    config = PipelineConfig(model=args.model, language=args.language)
    models = await asyncio.to_thread(SpeechModels.load, config)
    factory = LivePipelineFactory(config, models)
    hls = HlsConfig(HlsOptions(segment_duration=args.segment, window_segments=10_000))
    server_config = ServerConfig(port=0, token="bench", ping_interval=None, hls=hls)
    finals: list[float] = []
    async with CaptionServer(server_config, pipeline_factory=factory) as server:
        async with connect(f"{server.ws_url}/v1/streams/bench/ingest?token=bench") as encoder:
            await encoder.send(json.dumps({"type": "start", "sample_rate": 16_000,
                                           "language": args.language or "auto"}))
            await encoder.recv()
            frame = 1600 * 2  # 0.1 s
            next_at = time.monotonic()
            for start in range(0, len(pcm), frame):
                await encoder.send(pcm[start : start + frame])
                next_at += 0.1
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # real time
            await encoder.send(json.dumps({"type": "end"}))
            async for message in encoder:
                if json.loads(message)["type"] == "end":
                    break
        stream = server.streams["bench"]
        finals = [json.loads(d.payload)["emitted_at"] - json.loads(d.payload)["end"]
                  for d in stream.memory if d.type == "caption"]
        packager = server.hls.packagers["bench"]
        renditions = {r.name: r.language for r in packager.renditions()}
        segments = {name: packager.segments(name) for name in renditions}
    minutes = len(audio) / 16_000 / 60
    lags = [s.published_at - s.end for s in segments["source"]]
    final_p95 = float(np.percentile(finals, 95))
    return {
        "benchmark": "hls",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "audio": [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in args.audio],
        "audio_s": round(len(audio) / 16_000, 1),
        "model": args.model,
        "segment_s": args.segment,
        "segments": len(lags),
        "lag_s": {"p50": round(float(np.percentile(lags, 50)), 2), "p95": round(float(np.percentile(lags, 95)), 2),
                  "max": round(max(lags), 2)},
        "final_latency_s": {"p50": round(float(np.percentile(finals, 50)), 2), "p95": round(final_p95, 2)},
        "target_lag_p95_s": round(args.segment + final_p95, 2),
        "bytes_per_minute": {f"{name} ({lang})": round(sum(len(s.text.encode()) for s in segs) / minutes)
                             for (name, lang), segs in zip(renditions.items(), segments.values())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, nargs="+", default=[ROOT / "samples" / "demo.flac"])
    parser.add_argument("--model", default="base")
    parser.add_argument("--language", default=None, help="the spoken language (default: detected)")
    parser.add_argument("--segment", type=float, default=2.0, help="segment length, s (default: 2, the server's)")
    parser.add_argument("--out", type=Path, default=Path("bench-hls.json"))
    args = parser.parse_args()
    report = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    lag, final = report["lag_s"], report["final_latency_s"]
    print(f"HLS: {report['audio_s']} s of audio, {report['model']}, {report['segment_s']:g} s segments, "
          f"{report['segments']} source segments")
    print(f"segment lag behind the audio: p50 {lag['p50']} s, p95 {lag['p95']} s, max {lag['max']} s; "
          f"final captions p50 {final['p50']} s, p95 {final['p95']} s")
    met = lag["p95"] <= report["target_lag_p95_s"]
    print(f"target p95 lag <= segment + final p95 = {report['target_lag_p95_s']} s: {'met' if met else 'NOT met'}")
    print(f"bytes per minute: {report['bytes_per_minute']}")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
