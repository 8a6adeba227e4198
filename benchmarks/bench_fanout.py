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

With ``--bus``, the scaled-out shape (docs/scaling.md): a real redis-server, one
worker publishing through it, two edges serving the viewers (half each), and
midway edge A is killed with SIGKILL: its viewers reconnect to edge B with
``since`` and must resume with nothing lost. Reported: final delivery (publish
on the worker -> viewer socket) before the kill, each edge's CPU per 1,000
viewers, Redis commands per second, and how long the killed edge's viewers took
to resume. Target (issue 19): p99 <= 150 ms at 5,000 viewers; 1,000 viewers
resumed within 5 s::

    python benchmarks/bench_fanout.py --bus --viewers 5000 --client-procs 4 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

logger = logging.getLogger("bench_fanout")

CONNECT_BATCH = 50  # concurrent handshakes per client process (the listen backlog is 100)


# --------------------------------------------------------------------------- server role


async def publish_ticks(args: argparse.Namespace, server: Any, stream: Any) -> int:
    """Wait for the parent's start time t0, then publish a caption event every interval
    (two partials, then a final) for the duration; returns how many were published."""
    from livetrans.types import CaptionEvent, Word

    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.timeout)
    t0 = float(json.loads(line)["t0"])
    ticks = int(args.duration / args.interval)
    next_at = time.monotonic()
    text = ""
    for tick in range(ticks):
        n = tick // 3
        text += f" word{tick}"
        start = float(n)
        if tick % 3 == 2:  # every third event is a final, the others partials
            event = CaptionEvent("final", f"c{n}", start, start + 0.6, text, "en",
                                 words=(Word(start, start + 0.6, text),), seq=stream.last_seq + 1,
                                 emitted_at=time.time() - t0)
            text = ""
        else:
            event = CaptionEvent("partial", f"c{n}", start, start + 0.6, text, "en", seq=stream.last_seq,
                                 emitted_at=time.time() - t0)
        server.publish(stream, event)
        next_at += args.interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the tick itself
    return ticks


async def server_role(args: argparse.Namespace) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig

    journal = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    config = ServerConfig(port=0, token="bench", journal_dir=journal, max_connections_per_address=0,
                          ping_interval=None)
    async with CaptionServer(config) as server:
        stream = server.open_session("main", "en", ())
        print(json.dumps({"port": server.port}), flush=True)
        ticks = await publish_ticks(args, server, stream)
        server.end_session("main", "benchmark done")
        await server.drain(grace=args.timeout)
        bounds, counts = handoff_histogram(server.metrics.registry)  # publish -> socket write
        print(json.dumps({"published": ticks, "handoff_buckets_s": bounds, "handoff_counts": counts}), flush=True)


def handoff_histogram(registry: Any) -> tuple[list[float], list[int]]:
    """The server's fan-out delay histogram: bucket bounds and per-bucket counts (+Inf last)."""
    bounds: list[float] = []
    cumulative: list[float] = []
    for family in registry.collect():
        if family.name == "livetrans_fanout_delay_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    le = sample.labels["le"]
                    if le != "+Inf":
                        bounds.append(float(le))
                    cumulative.append(sample.value)
    counts = [int(c - (cumulative[i - 1] if i else 0)) for i, c in enumerate(cumulative)]
    return bounds, counts


async def bus_worker_role(args: argparse.Namespace) -> None:
    """The worker: publishes the same synthetic events through Redis."""
    from livetrans.server.app import CaptionServer, ServerConfig

    config = ServerConfig(port=0, token="bench", bus_url=args.bus_url, role="worker", ping_interval=None)
    async with CaptionServer(config) as server:
        await server.claim_stream("main")
        stream = server.open_session("main", "en", ())
        outbox = stream.outlet.outbox  # type: ignore[union-attr]
        while outbox.items:  # the session is on the bus before viewers come
            await asyncio.sleep(0.01)
        print(json.dumps({"ready": True}), flush=True)
        ticks = await publish_ticks(args, server, stream)
        server.end_session("main", "benchmark done")
        await stream.outlet.close()  # type: ignore[union-attr]
        print(json.dumps({"published": ticks, "last_seq": stream.last_seq}), flush=True)


async def edge_role(args: argparse.Namespace) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig

    config = ServerConfig(port=0, token="bench", bus_url=args.bus_url, role="edge", ping_interval=None,
                          max_connections_per_address=0)
    async with CaptionServer(config) as server:
        print(json.dumps({"port": server.port}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)  # until the parent says stop (or kills it)


# --------------------------------------------------------------------------- client role


_FIELDS = re.compile(rb'"(type|kind|seq|emitted_at)":("[a-z_]*"|-?[0-9.e+-]+)')


def parse_light(raw: bytes) -> dict[str, Any]:
    """The four fields the clients need, without decoding the whole message: with thousands
    of viewers in a few processes, the clients' JSON parsing would be what is measured."""
    out: dict[str, Any] = {}
    for name, value in _FIELDS.findall(raw):
        key = name.decode()
        if key not in out:
            out[key] = value[1:-1].decode() if value.startswith(b'"') else float(value)
    if "seq" in out:
        out["seq"] = int(out["seq"])
    return out


class ViewerProtocol(asyncio.Protocol):
    """A minimal WebSocket viewer (RFC 6455 client side, text frames from a server).

    The load generator shares the machine's cores with the servers it measures, so
    it must cost little per message: no task per connection, no decoding beyond the
    four fields it reads. The server never fragments or masks these small frames;
    anything else it sent would fail the check below rather than be misread.
    """

    def __init__(self, client: ViewerClient, path: str, port_index: int, since: int) -> None:
        self.client = client
        self.path = path
        self.port_index = port_index  # which of the client's ports this connection is on
        self.last_seq = since  # the last durable seq received
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                        .encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.fail(f"handshake: {bytes(buf[:40])!r}")
                return
            del buf[: end + 4]
            self.upgraded = True
        while len(buf) >= 2:
            fin_opcode, length = buf[0], buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if fin_opcode == 0x81:  # a whole text frame
                if not self.hello.done():
                    self.hello.set_result(None)
                else:
                    self.client.message(self, payload)
            elif fin_opcode == 0x88:  # close
                if self.transport is not None:
                    self.transport.close()
                return
            elif fin_opcode != 0x89:  # anything but a ping is unexpected here
                self.fail(f"unexpected frame 0x{fin_opcode:02x}")
                return

    def fail(self, why: str) -> None:
        self.client.failures.append(why)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("closed before hello"))
        self.client.lost(self)


class ViewerClient:
    """``count`` viewers of one process; a viewer whose edge dies moves to the next port
    with ``since`` = its last durable seq."""

    def __init__(self, ports: list[int], t0: float) -> None:
        self.ports = ports
        self.t0 = t0
        self.latencies: dict[str, list[list[float]]] = {"final": [], "partial": []}  # [emitted_at, latency, edge]
        self.failures: list[str] = []
        self.resumes: list[list[float]] = []  # [dropped at, hello again at]
        self.ended = 0
        self.lost_finals = 0
        self.duplicated = 0
        self.done: set[ViewerProtocol] = set()
        self.finished = asyncio.Event()
        self.count = 0
        self.reconnects: set[asyncio.Task[None]] = set()

    async def open(self, port_index: int, since: int | None) -> ViewerProtocol:
        loop = asyncio.get_running_loop()
        query = "" if since is None else f"?since={since}"
        path = f"/v1/streams/main/captions{query}"
        _, viewer = await loop.create_connection(lambda: ViewerProtocol(self, path, port_index, since or 0),
                                                 "127.0.0.1", self.ports[port_index])
        await viewer.hello
        return viewer

    def message(self, viewer: ViewerProtocol, raw: bytes) -> None:
        received = time.time()
        data = parse_light(raw)
        if data["type"] == "caption":
            self.latencies[data["kind"]].append([data["emitted_at"], received - (self.t0 + data["emitted_at"]),
                                                 viewer.port_index])
            if data["kind"] == "final":
                last = viewer.last_seq
                self.lost_finals += max(0, data["seq"] - last - 1)
                self.duplicated += data["seq"] <= last
                viewer.last_seq = max(last, data["seq"])
        elif data["type"] == "end":
            self.ended += 1
            self.done.add(viewer)
            if self.ended == self.count:
                self.finished.set()
        elif data["type"] == "gap":
            self.failures.append("gap")

    def lost(self, viewer: ViewerProtocol) -> None:
        if viewer in self.done or not viewer.hello.done() or viewer.hello.exception() is not None:
            return  # ended, or never opened (the opener sees the error)
        task = asyncio.ensure_future(self.reconnect(viewer, time.time()))
        self.reconnects.add(task)
        task.add_done_callback(self.reconnects.discard)

    async def reconnect(self, viewer: ViewerProtocol, dropped: float) -> None:
        index = viewer.port_index + 1
        since = viewer.last_seq
        if index >= len(self.ports):
            self.failures.append("connection closed with no edge left")
            return
        for attempt in range(100):
            try:
                await self.open(index, since)
                self.resumes.append([dropped, time.time()])
                return
            except OSError as e:
                if attempt == 99:
                    self.failures.append(f"reconnect: {e!r}")
                await asyncio.sleep(0.1)


async def client_role(args: argparse.Namespace) -> None:
    ports = [int(p) for p in str(args.ports or args.port).split(",")]
    client = ViewerClient(ports, float(args.t0))
    client.count = args.count
    for start in range(0, args.count, CONNECT_BATCH):
        await asyncio.wait_for(asyncio.gather(*(client.open(0, None)
                                                for _ in range(min(CONNECT_BATCH, args.count - start)))), args.timeout)
    print("ready", flush=True)
    cpu_started = time.process_time()
    wall_started = time.monotonic()
    try:
        await asyncio.wait_for(client.finished.wait(), args.timeout + args.duration)
    except TimeoutError:
        client.failures.append(f"{args.count - client.ended} viewers got no end")
    cpu = time.process_time() - cpu_started
    print(json.dumps({"latencies": client.latencies, "ended": client.ended, "failures": client.failures[:5],
                      "failed": len(client.failures), "resumes": client.resumes, "lost": client.lost_finals,
                      "duplicated": client.duplicated, "cpu_s": cpu,
                      "wall_s": time.monotonic() - wall_started}), flush=True)


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


def wait_ready(clients: list[subprocess.Popen[str]]) -> float:
    """Until every client process has connected its viewers (it prints "ready"); seconds."""
    started = time.monotonic()
    for client in clients:
        assert client.stdout is not None
        while (line := client.stdout.readline()) and line.strip() != "ready":
            pass
        if not line:
            raise RuntimeError(f"a client process failed to connect (exit {client.poll()})")
    return time.monotonic() - started


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
        server = subprocess.Popen([*me, "--role", "server", "--loop", args.loop, "--duration", str(args.duration),
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
            clients.append(subprocess.Popen([*me, "--role", "clients", "--loop", args.loop, "--port", str(port), "--count", str(share),
                                             "--t0", repr(t0), "--duration", str(args.duration),
                                             "--timeout", str(args.timeout)],
                                            stdout=subprocess.PIPE, text=True))
            procs.append(clients[-1])
        connect_seconds = wait_ready(clients)
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
    finals = [x[1] for r in client_results for x in r["latencies"]["final"]]
    partials = [x[1] for r in client_results for x in r["latencies"]["partial"]]
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


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    import redis

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, port
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def redis_commands(port: int) -> dict[str, int]:
    import redis

    stats = redis.Redis(port=port).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def run_parent_bus(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    me = [sys.executable, os.path.abspath(__file__)]
    procs: list[subprocess.Popen[Any]] = []
    try:
        redis_proc, redis_port = start_redis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
        procs.append(redis_proc)
        bus = f"redis://127.0.0.1:{redis_port}/0"
        common = ["--bus-url", bus, "--duration", str(args.duration), "--interval", str(args.interval),
                  "--timeout", str(args.timeout), "--loop", args.loop]
        worker = subprocess.Popen([*me, "--role", "bus-worker", *common], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        procs.append(worker)
        deadline = time.monotonic() + args.timeout
        read_json_line(worker, deadline)
        edges = [subprocess.Popen([*me, "--role", "edge", *common], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        procs.extend(edges)
        ports = [read_json_line(e, deadline)["port"] for e in edges]
        t0 = time.time()
        per_edge = [args.viewers // 2 + args.viewers % 2, args.viewers // 2]
        clients: list[tuple[int, subprocess.Popen[str]]] = []
        for edge_index, viewers in enumerate(per_edge):
            procs_here = max(1, args.client_procs // 2)
            order = ports[edge_index:] + ports[:edge_index]
            for i in range(procs_here):
                share = viewers // procs_here + (i < viewers % procs_here)
                client = subprocess.Popen([*me, "--role", "clients", "--loop", args.loop,
                                           "--ports", ",".join(map(str, order)),
                                           "--count", str(share), "--t0", repr(t0), "--duration", str(args.duration),
                                           "--timeout", str(args.timeout)], stdout=subprocess.PIPE, text=True)
                clients.append((edge_index, client))
                procs.append(client)
        connect_seconds = wait_ready([client for _, client in clients])
        edge_ps = [psutil.Process(e.pid) for e in edges]
        cpu_before = [sum(p.cpu_times()[:2]) for p in edge_ps]
        commands_before = redis_commands(redis_port)
        wall_before = time.monotonic()
        assert worker.stdin is not None
        worker.stdin.write(json.dumps({"t0": t0}) + "\n")
        worker.stdin.flush()
        kill_after = args.duration * args.kill_at
        time.sleep(kill_after)
        cpu_at_kill = [sum(p.cpu_times()[:2]) for p in edge_ps]
        wall_at_kill = time.monotonic() - wall_before
        killed_at = time.time()
        edges[0].kill()
        deadline = time.monotonic() + args.duration + args.timeout
        client_results = [(edge, read_json_line(c, deadline)) for edge, c in clients]
        worker_result = read_json_line(worker, deadline)
        wall = time.monotonic() - wall_before
        commands_after = redis_commands(redis_port)
    finally:
        for proc in reversed(procs):  # Redis last: the others would only log its absence
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    kill_emitted = killed_at - t0
    # Steady state: what viewers got on their first edge, before the kill.
    steady = [x[1] for _, r in client_results for x in r["latencies"]["final"] if x[0] < kill_emitted and x[2] == 0]
    steady_partials = [x[1] for _, r in client_results for x in r["latencies"]["partial"]
                       if x[0] < kill_emitted and x[2] == 0]
    after = [x[1] for edge, r in client_results if edge == 1 for x in r["latencies"]["final"] if x[0] >= kill_emitted]
    resumes = [x for edge, r in client_results if edge == 0 for x in r["resumes"]]
    calls = {k: commands_after.get(k, 0) - commands_before.get(k, 0) for k in commands_after}
    return {
        "benchmark": "fanout-bus",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "viewers": args.viewers,
        "viewers_per_edge": per_edge,
        "client_processes": len(clients),
        "interval_s": args.interval,
        "duration_s": args.duration,
        "events_published": worker_result["published"],
        "last_seq": worker_result["last_seq"],
        "connect_s": round(connect_seconds, 2),
        "finals_before_kill": summarize(steady),
        "partials_before_kill": summarize(steady_partials),
        "finals_after_kill_on_edge_b": summarize(after),
        "edge_cpu_percent_of_one_core_per_1000_viewers": [
            round(100 * (cpu_at_kill[i] - cpu_before[i]) / wall_at_kill / (per_edge[i] / 1000), 1) for i in range(2)
        ],
        "redis_commands_per_s": round(sum(calls.values()) / wall, 1),
        "redis_calls": {k: v for k, v in sorted(calls.items()) if v},
        "bus_events_per_s": round(worker_result["published"] / args.duration, 1),
        "killed_edge_viewers": per_edge[0],
        "viewers_resumed": len(resumes),
        "resume_s": {"p50": round(percentile(sorted(b - a for a, b in resumes), 50), 3),
                     "max": round(max((b - a for a, b in resumes), default=float("nan")), 3),
                     "all_resumed_after_kill_s": round(max((b for _, b in resumes), default=killed_at) - killed_at, 3)},
        "client_cpu_percent_of_one_core": [round(100 * r["cpu_s"] / r["wall_s"], 1) for _, r in client_results],
        "viewers_ended": sum(r["ended"] for _, r in client_results),
        "finals_lost": sum(r["lost"] for _, r in client_results),
        "finals_duplicated": sum(r["duplicated"] for _, r in client_results),
        "viewer_failures": sum(r["failed"] for _, r in client_results),
        "failure_examples": [f for _, r in client_results for f in r["failures"]][:5],
        "target_p99_ms": 150,
        "target_resume_s": 5.0,
    }


def print_bus_table(report: dict[str, Any]) -> None:
    print(f"fan-out through Redis: {report['viewers']} viewers on 2 edges {report['viewers_per_edge']}, an event "
          f"every {report['interval_s'] * 1000:.0f} ms for {report['duration_s']:g} s, {report['machine']['cpus']} CPUs")
    print(f"{'events':<28}{'count':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name in ("finals_before_kill", "partials_before_kill", "finals_after_kill_on_edge_b"):
        s = report[name]
        print(f"{name:<28}{s['count']:>9}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}{s['max_ms']:>9}")
    print(f"edge CPU per 1,000 viewers: {report['edge_cpu_percent_of_one_core_per_1000_viewers']} % of one core; "
          f"Redis {report['redis_commands_per_s']} commands/s for {report['bus_events_per_s']} events/s; "
          f"client processes {report['client_cpu_percent_of_one_core']} % of one core each")
    r = report["resume_s"]
    print(f"killed edge: {report['viewers_resumed']}/{report['killed_edge_viewers']} viewers resumed on edge B, "
          f"p50 {r['p50']} s, slowest {r['max']} s, all within {r['all_resumed_after_kill_s']} s of the kill")
    print(f"viewers ended {report['viewers_ended']}/{report['viewers']}, finals lost {report['finals_lost']}, "
          f"duplicated {report['finals_duplicated']}, failures {report['viewer_failures']} {report['failure_examples']}")
    met = report["finals_before_kill"]["p99_ms"] <= report["target_p99_ms"]
    print(f"target p99 <= {report['target_p99_ms']} ms: {'met' if met else 'NOT met'}; resume <= "
          f"{report['target_resume_s']} s: {'met' if r['all_resumed_after_kill_s'] <= report['target_resume_s'] else 'NOT met'}")


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
    parser.add_argument("--bus", action="store_true", help="through Redis: one worker, two edges, one edge killed")
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="with --bus: kill edge A after this fraction of the duration (default: 0.5)")
    parser.add_argument("--role", choices=("parent", "server", "clients", "bus-worker", "edge"), default="parent",
                        help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop",
                        help="the event loop of the servers and clients (default: uvloop, as `livetrans serve` "
                        "runs; asyncio: the standard library's)")
    parser.add_argument("--bus-url", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--t0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    roles = {"server": server_role, "clients": client_role, "bus-worker": bus_worker_role, "edge": edge_role}
    if args.role in roles:
        if args.loop == "uvloop":
            from livetrans.server.command import run_event_loop  # what `livetrans serve` runs on

            run_event_loop(roles[args.role](args))
        else:
            asyncio.run(roles[args.role](args))
        return 0
    if args.bus:
        report = run_parent_bus(args)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print_bus_table(report)
        print(f"report: {args.out}")
        return 0
    report = run_parent(args)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
