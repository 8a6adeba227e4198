"""Fan-out benchmark: N viewers of one stream on loopback, a caption event every 200 ms.

Measures the time from emission (the server publishing the event) to receipt by
each viewer, p50/p95/p99/max, for finals and partials, and the server process's
CPU while it publishes. Three roles in separate processes so the server's CPU
is its own: this parent, one server, and ``--client-procs`` client processes.

    python benchmarks/bench_fanout.py                      # 1,000 viewers, 20 s
    python benchmarks/bench_fanout.py --viewers 200 --duration 5 --out /tmp/f.json

Emission and receipt are both wall-clock (time.time()) on the same machine;
``emitted_at`` travels in the event (rounded to 1 ms by the wire format), so
figures carry +-0.5 ms of rounding. Every wait is bounded; children are killed
on the way out. The target (issue 4): p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("bench_fanout")

CONNECT_BATCH = 50  # concurrent handshakes per client process (the listen backlog is 100)


# --------------------------------------------------------------------------- server role


async def server_role(args: argparse.Namespace) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig
    from livetrans.types import CaptionEvent, Word

    journal = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    config = ServerConfig(port=0, token="bench", journal_dir=journal, max_connections_per_address=0,
                          ping_interval=None)
    async with CaptionServer(config) as server:
        stream = server.open_session("main", "en", ())
        print(json.dumps({"port": server.port}), flush=True)
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.timeout)
        t0 = float(json.loads(line)["t0"])
        ticks = int(args.duration / args.interval)
        next_at = time.monotonic()
        text = ""
        for tick in range(ticks):
            n = tick // 3
            words = f" word{tick}"
            text += words
            now = time.time()
            start = float(n)
            if tick % 3 == 2:  # every third event is a final, the others partials
                event = CaptionEvent("final", f"c{n}", start, start + 0.6, text, "en",
                                     words=(Word(start, start + 0.6, text),), seq=stream.last_seq + 1,
                                     emitted_at=now - t0)
                text = ""
            else:
                event = CaptionEvent("partial", f"c{n}", start, start + 0.6, text, "en", seq=stream.last_seq,
                                     emitted_at=now - t0)
            server.publish(stream, event)
            next_at += args.interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the 200 ms tick itself
        server.end_session("main", "benchmark done")
        await server.drain(grace=args.timeout)
        delay = server.metrics.fanout_delay
        counts = delay.bucket_counts()  # publish -> socket write, as the server's histogram has it
        print(json.dumps({"published": ticks, "handoff_buckets_s": list(delay.buckets),
                          "handoff_counts": counts}), flush=True)


# --------------------------------------------------------------------------- client role


async def client_role(args: argparse.Namespace) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{args.port}/v1/streams/main/captions"
    t0 = float(args.t0)
    latencies: dict[str, list[float]] = {"final": [], "partial": []}
    ended = 0
    failures: list[str] = []
    connections = []
    for start in range(0, args.count, CONNECT_BATCH):
        batch = [connect(url, compression=None, ping_interval=None, open_timeout=args.timeout)
                 for _ in range(min(CONNECT_BATCH, args.count - start))]
        connections.extend(await asyncio.gather(*batch))
    for ws in connections:  # every viewer registered (hello) before publishing starts
        hello = json.loads(await asyncio.wait_for(ws.recv(), args.timeout))
        assert hello["type"] == "hello"
    print("ready", flush=True)
    cpu_started = time.process_time()
    wall_started = time.monotonic()

    async def read(ws: Any) -> None:
        nonlocal ended
        try:
            async for message in ws:
                received = time.time()
                data = json.loads(message)
                if data["type"] == "caption":
                    latencies[data["kind"]].append(received - (t0 + data["emitted_at"]))
                elif data["type"] == "end":
                    ended += 1
        except Exception as e:  # a viewer that fails is counted, not hidden
            failures.append(repr(e))

    await asyncio.wait_for(asyncio.gather(*(read(ws) for ws in connections)), args.timeout + args.duration)
    cpu = time.process_time() - cpu_started
    print(json.dumps({"latencies": latencies, "ended": ended, "failures": failures[:5], "failed": len(failures),
                      "cpu_s": cpu, "wall_s": time.monotonic() - wall_started}), flush=True)


# --------------------------------------------------------------------------- parent


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarize(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    ms = 1000.0
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * ms, 2),
        "p95_ms": round(percentile(values, 95) * ms, 2),
        "p99_ms": round(percentile(values, 99) * ms, 2),
        "max_ms": round(values[-1] * ms, 2) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values) * ms, 2) if values else float("nan"),
    }


def bucket_percentile(bounds: list[float], counts: list[int], q: float) -> float:
    """Upper bound (s) of the histogram bucket holding the q-th percentile (+inf past the last)."""
    total = sum(counts)
    running = 0
    for bound, n in zip([*bounds, float("inf")], counts):
        running += n
        if total and running >= q / 100 * total:
            return bound
    return float("nan")


def read_json_line(proc: subprocess.Popen[str], deadline: float) -> dict[str, Any]:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process {proc.pid} ended early (exit {proc.poll()})")
        if line.startswith("{"):
            return dict(json.loads(line))
    raise TimeoutError("no result in time")


def run_parent(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    me = [sys.executable, os.path.abspath(__file__)]
    procs: list[subprocess.Popen[str]] = []
    try:
        server = subprocess.Popen([*me, "--role", "server", "--duration", str(args.duration),
                                   "--interval", str(args.interval), "--timeout", str(args.timeout)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(server)
        deadline = time.monotonic() + args.timeout
        port = read_json_line(server, deadline)["port"]
        t0 = time.time()
        shares = [args.viewers // args.client_procs + (i < args.viewers % args.client_procs)
                  for i in range(args.client_procs)]
        clients = []
        for share in shares:
            clients.append(subprocess.Popen([*me, "--role", "clients", "--port", str(port), "--count", str(share),
                                             "--t0", repr(t0), "--duration", str(args.duration),
                                             "--timeout", str(args.timeout)],
                                            stdout=subprocess.PIPE, text=True))
            procs.append(clients[-1])
        connect_started = time.monotonic()
        for client in clients:
            assert client.stdout is not None
            while (line := client.stdout.readline()) and line.strip() != "ready":
                pass
            if not line:
                raise RuntimeError(f"a client process failed to connect (exit {client.poll()})")
        connect_seconds = time.monotonic() - connect_started
        server_ps = psutil.Process(server.pid)
        cpu_before = server_ps.cpu_times()
        wall_before = time.monotonic()
        assert server.stdin is not None
        server.stdin.write(json.dumps({"t0": t0}) + "\n")
        server.stdin.flush()
        deadline = time.monotonic() + args.duration + args.timeout
        client_results = [read_json_line(c, deadline) for c in clients]
        cpu_after = server_ps.cpu_times()
        wall = time.monotonic() - wall_before
        server_result = read_json_line(server, deadline)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    finals = [x for r in client_results for x in r["latencies"]["final"]]
    partials = [x for r in client_results for x in r["latencies"]["partial"]]
    published_finals = server_result["published"] // 3
    return {
        "benchmark": "fanout",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "viewers": args.viewers,
        "client_processes": args.client_procs,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "events_published": server_result["published"],
        "connect_s": round(connect_seconds, 2),
        "viewers_ended": sum(r["ended"] for r in client_results),
        "viewer_failures": sum(r["failed"] for r in client_results),
        "finals_expected": published_finals * args.viewers,
        "finals": summarize(finals),
        "partials": summarize(partials),
        "all_events": summarize(finals + partials),
        "server_handoff_ms_at_most": {
            f"p{q}": bucket_percentile(server_result["handoff_buckets_s"], server_result["handoff_counts"], q) * 1000
            for q in (50, 99)
        },
        "server_cpu_s": round(cpu, 2),
        "server_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "client_cpu_percent_of_one_core": [round(100 * r["cpu_s"] / r["wall_s"], 1) for r in client_results],
        "target_p99_ms": 100,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"fan-out: {report['viewers']} viewers, an event every {report['interval_s'] * 1000:.0f} ms "
          f"for {report['duration_s']:g} s ({report['events_published']} events), "
          f"{report['machine']['cpus']} CPUs")
    print(f"{'events':<10}{'count':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name in ("finals", "partials", "all_events"):
        s = report[name]
        print(f"{name:<10}{s['count']:>9}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}{s['max_ms']:>9}")
    print(f"finals delivered {report['finals']['count']}/{report['finals_expected']}, "
          f"viewers ended {report['viewers_ended']}/{report['viewers']}, failures {report['viewer_failures']}")
    handoff = report["server_handoff_ms_at_most"]
    print(f"server hand-off (publish -> socket write): p50 <= {handoff['p50']:g} ms, p99 <= {handoff['p99']:g} ms")
    print(f"server CPU {report['server_cpu_s']} s = {report['server_cpu_percent_of_one_core']}% of one core; "
          f"clients' CPU {report['client_cpu_percent_of_one_core']}% each; connect {report['connect_s']} s; target p99 <= {report['target_p99_ms']} ms: "
          f"{'met' if report['all_events']['p99_ms'] <= report['target_p99_ms'] else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between events (default: 0.2)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing (default: 20)")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes (default: 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on each wait (default: 60 s)")
    parser.add_argument("--out", type=Path, default=Path("bench-fanout.json"))
    parser.add_argument("--role", choices=("parent", "server", "clients"), default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--t0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.role == "server":
        asyncio.run(server_role(args))
        return 0
    if args.role == "clients":
        asyncio.run(client_role(args))
        return 0
    report = run_parent(args)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
