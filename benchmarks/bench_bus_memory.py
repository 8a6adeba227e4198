"""Redis memory per hour of a typical broadcast with three translation targets.

The durable events of a real live run (``livetrans transcribe FILE --live --print
jsonl``: finals and sentences from the default model on the bundled demo clip,
en/es/zh) give the rate and the sizes of finals and sentences. Each sentence gets
three final translations, each as long as the sentence's text (no translation
model installs here; a translation's length is close to its source's). That mix
is replayed, renumbered, until it covers one hour of audio, through the worker's
own bus code (``WorkerLink``: the Lua append, entry ids from seq) into a real
``redis-server``; then Redis is asked what the broadcast's Stream costs
(``MEMORY USAGE``), what its memory grew by, and how large its AOF is.

    python benchmarks/bench_bus_memory.py --out reports/bench-bus-memory.json
    python benchmarks/bench_bus_memory.py --events run.jsonl   # events of another run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_fanout import start_redis  # the same real redis-server, AOF on (run from benchmarks/)

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("es", "fr", "de")


def live_events(clip: Path) -> list[dict[str, Any]]:
    """Durable events of a real live run on ``clip``."""
    print(f"running the live pipeline on {clip} (real time)...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as out:  # the subtitle files it writes too are not wanted
        run = subprocess.run([sys.executable, "-m", "livetrans.cli", "transcribe", str(clip), "--live", "--print",
                              "jsonl", "-o", out], capture_output=True, text=True, timeout=600, check=True)
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def typical_hour(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """The run's finals and sentences plus three translations per sentence, repeated for an
    hour of audio; returns the events and the audio seconds one repetition covers."""
    durable = [e for e in events if e["type"] == "sentence" or (e["type"] == "caption" and e.get("kind") == "final")]
    span = max(e["end"] for e in durable)
    one: list[dict[str, Any]] = []
    for event in durable:
        one.append(event)
        if event["type"] == "sentence":
            for lang in TARGETS:
                one.append({"type": "translation", "id": event["id"], "lang": lang, "source_lang": event["lang"],
                            "text": event["text"], "start": event["start"], "end": event["end"], "kind": "final",
                            "seq": 0, "emitted_at": event["emitted_at"] + 0.8})
    hour: list[dict[str, Any]] = []
    offset = 0.0
    while offset < 3600:
        for event in one:
            shifted = dict(event, start=round(event["start"] + offset, 3), end=round(event["end"] + offset, 3),
                           emitted_at=round(event["emitted_at"] + offset, 3))
            if "words" in shifted:
                shifted["words"] = [dict(w, start=round(w["start"] + offset, 3), end=round(w["end"] + offset, 3))
                                    for w in event["words"]]
            hour.append(shifted)
        offset += span
    return hour, span


async def fill(url: str, hour: list[dict[str, Any]]) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig

    config = ServerConfig(port=0, bus_url=url, role="worker", bus_retention_events=0, bus_retention_seconds=0)
    async with CaptionServer(config) as server:
        await server.claim_stream("main")
        stream = server.open_session("main", "en", TARGETS)
        for seq, event in enumerate(hour, 1):
            payload = json.dumps(dict(event, seq=seq), ensure_ascii=False, separators=(",", ":")).encode()
            stream.outlet.durable(seq, payload)  # type: ignore[union-attr]
            stream.last_seq = seq
            if seq % 2000 == 0:
                await asyncio.sleep(0)
        server.end_session("main", "done")
        await stream.outlet.close()  # type: ignore[union-attr]


def main() -> int:
    import redis

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=Path, help="JSONL events of a live run (default: run one on --clip)")
    parser.add_argument("--clip", type=Path, default=ROOT / "samples" / "demo.flac")
    parser.add_argument("--out", type=Path, default=Path("bench-bus-memory.json"))
    args = parser.parse_args()
    if args.events:
        events = [json.loads(line) for line in args.events.read_text().splitlines() if line.startswith("{")]
    else:
        events = live_events(args.clip)
    hour, span = typical_hour(events)
    directory = Path(tempfile.mkdtemp(prefix="bench-bus-memory-"))
    proc, port = start_redis(directory)
    try:
        client = redis.Redis(port=port)
        before = int(client.info("memory")["used_memory"])
        started = time.monotonic()
        asyncio.run(fill(f"redis://127.0.0.1:{port}/0", hour))
        seconds = time.monotonic() - started
        stream_bytes = int(client.memory_usage("livetrans:{main}:events", samples=0) or 0)
        after = int(client.info("memory")["used_memory"])
        entries = int(client.xlen("livetrans:{main}:events"))
        client.bgrewriteaof()
        time.sleep(2)
        aof = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and "aof" in f.name)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)
    kinds: dict[str, int] = {}
    for event in hour:
        kind = event["type"] if event["type"] != "caption" else "final"
        kinds[kind] = kinds.get(kind, 0) + 1
    payload_bytes = sum(len(json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode()) for e in hour)
    report = {
        "benchmark": "bus-memory",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "run_audio_s": round(span, 1),
        "events_per_hour": len(hour),
        "events_per_hour_by_kind": kinds,
        "entries": entries,
        "payload_mib": round(payload_bytes / 2**20, 2),
        "stream_memory_mib": round(stream_bytes / 2**20, 2),
        "used_memory_growth_mib": round((after - before) / 2**20, 2),
        "aof_mib_after_rewrite": round(aof / 2**20, 2),
        "write_seconds": round(seconds, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"one hour of a typical broadcast with {len(TARGETS)} translation targets "
          f"(the {span:.0f} s live run repeated): {len(hour)} durable events {kinds}")
    print(f"JSON payloads {report['payload_mib']} MiB; Redis Stream {report['stream_memory_mib']} MiB "
          f"(used_memory +{report['used_memory_growth_mib']} MiB); AOF {report['aof_mib_after_rewrite']} MiB; "
          f"written in {report['write_seconds']} s")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
