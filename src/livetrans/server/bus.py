"""The Redis bus (socket shell): connection, health, control, and claiming a broadcast.

A worker owns a broadcast through a lease (``SET NX PX``, renewed every third
of its lifetime) and writes the broadcast's events through a ``WorkerLink``
(``worker_link.py``): the stream's ``Outlet``, whose writer task empties an
``Outbox`` into Redis in order.
Every append runs as one Lua script that first checks the lease, so a worker
that lost its lease (a network partition, say) can never write after its
successor: it stops its stream instead. Entry ids come from ``seq``, so an
append retried after a lost reply is recognised by Redis and skipped.

While Redis is unreachable, the worker keeps captioning, keeps durable events
in the outbox (bounded) and retries with a backoff; ``/healthz`` says
``degraded``. The edge's side is ``edge.EdgeMirrors``. Key layout and entry ids:
``busfeed``; what each Redis setting can lose: docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from ..errors import LivetransError
from .busfeed import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    CONTROL_PATTERN,
    control_channel,
    entries,
    events_key,
    lease_key,
    meta_key,
    parse_entry_id,
    stream_of_channel,
    vocabulary_key,
)
from .worker_link import APPEND_SCRIPT, RELEASE_SCRIPT, RENEW_SCRIPT, WorkerLink

if TYPE_CHECKING:
    from .edge import EdgeMirrors
    from .metrics import ServerMetrics

logger = logging.getLogger(__name__)

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
BUS_SCHEMES = ("redis", "rediss", "unix", *SENTINEL_SCHEMES)


def redis_client(url: str) -> aioredis.Redis:
    """A client for ``--bus``: a Redis URL, or ``redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB]``
    for a primary with replicas watched by Sentinel (the client follows a failover)."""
    options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0, "socket_keepalive": True,
                               "health_check_interval": 10}
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        return aioredis.Redis.from_url(url, **options)
    nodes = []
    for node in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = node.rpartition(":") if ":" in node else (node, "", "26379")
        nodes.append((host.strip("[]"), int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path:
        raise LivetransError(f"--bus {url!r}: name the Sentinel service: redis+sentinel://HOST:PORT/SERVICE[/DB]")
    db = int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(nodes, sentinel_kwargs={"socket_connect_timeout": 2.0, "socket_timeout": 2.0},
                        password=parts.password, ssl=parts.scheme.startswith("rediss"),
                        **options)
    return cast(aioredis.Redis, sentinel.master_for(path[0], db=db))


class StreamBusy(LivetransError):
    """The broadcast is live on another worker (its lease is being renewed)."""


class LeaseLost(LivetransError):
    """Another worker took the broadcast over: this worker must stop writing it."""


class RedisBus:
    """One process's connection to the bus, shared by its worker and edge sides."""

    def __init__(
        self,
        url: str,
        metrics: ServerMetrics,
        *,
        lease_seconds: float = 5.0,
        retention_events: int = 100_000,
        retention_seconds: float = 86_400.0,
        buffer_events: int = 100_000,
    ) -> None:
        self.url = url
        self.metrics = metrics
        self.lease_seconds = lease_seconds
        self.retention_events = max(0, retention_events)
        self.retention_seconds = max(0.0, retention_seconds)
        self.buffer_events = max(1, buffer_events)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.client = redis_client(url)
        self.healthy = True
        self.last_error = ""
        self.links: dict[str, WorkerLink] = {}
        self.edge: EdgeMirrors | None = None
        # A worker's handler of control messages for the broadcasts it owns (the vocabulary).
        self.on_control: Callable[[str, dict[str, Any]], None] | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._append = self.client.register_script(APPEND_SCRIPT)
        self._renew = self.client.register_script(RENEW_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)

    async def connect(self) -> None:
        """Check that Redis answers (at start: a one-line error if not)."""
        try:
            await self.client.ping()
            info = await self.client.info("server")
        except (RedisError, OSError) as e:
            reason = str(e).rstrip(".")
            raise LivetransError(f"cannot reach Redis at {self.url} ({reason}): start it or fix --bus") from e
        version = str(info.get("redis_version", "0"))
        if int(version.split(".")[0]) < 5:
            raise LivetransError(f"Redis {version} at {self.url} has no Streams: livetrans needs Redis 5 or later")

    async def close(self) -> None:
        if self._control_task is not None:
            self._control_task.cancel()
            await asyncio.gather(self._control_task, return_exceptions=True)
        for link in list(self.links.values()):
            await link.close()
        await self.client.aclose()

    # ---------------------------------------------------------------- control

    def follow_control(self, handler: Callable[[str, dict[str, Any]], None]) -> None:
        """A worker: call ``handler(stream, message)`` for control messages of the
        broadcasts it owns, whichever process received the call."""
        self.on_control = handler
        self._control_task = asyncio.create_task(self._control_loop(), name="bus-control")

    async def publish_vocabulary(self, name: str, data: dict[str, Any]) -> None:
        """Keep a broadcast's live vocabulary (a worker taking it over applies it) and tell
        its owner. ``data`` is the validated ``{"terms": [...]}``."""
        payload = json.dumps({"type": "vocabulary", "terms": data.get("terms", [])}, ensure_ascii=False)
        ttl = int(self.retention_seconds * 1000) or None
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(vocabulary_key(name), payload, px=ttl)
                pipe.publish(control_channel(name), payload)
                await pipe.execute()
            self.ok()
        except (RedisError, OSError) as e:
            self.failed("vocabulary", e)
            raise LivetransError(f"Redis unreachable ({e}): the vocabulary was not stored; retry") from e

    async def is_live(self, name: str) -> bool:
        try:
            live = await self.client.hget(meta_key(name), "live")
            self.ok()
        except (RedisError, OSError) as e:
            self.failed("meta", e)
            raise LivetransError(f"Redis unreachable ({e}); retry shortly") from e
        return bool(live == b"1")

    async def _control_loop(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(CONTROL_PATTERN)
                backoff = BACKOFF_MIN
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    channel = message["channel"]
                    name = stream_of_channel(channel.decode() if isinstance(channel, bytes) else str(channel),
                                             "control")
                    if name is None or name not in self.links or self.on_control is None:
                        continue  # another worker's broadcast
                    try:
                        data = json.loads(message["data"])
                        if not isinstance(data, dict):
                            raise ValueError("not an object")
                    except ValueError as e:
                        logger.warning("stream %s: malformed control message skipped: %s", name, e)
                        continue
                    self.on_control(name, data)
            except (RedisError, OSError) as e:
                self.failed("control", e)
                await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def ok(self) -> None:
        if not self.healthy:
            logger.warning("Redis at %s is reachable again", self.url)
        self.healthy = True

    def failed(self, operation: str, error: BaseException) -> None:
        self.metrics.redis_errors.labels(operation).inc()
        if self.healthy:
            logger.error("Redis %s failed (%s); retrying, events wait in memory", operation, error)
        self.healthy = False
        self.last_error = f"{operation}: {error}"

    def collect_metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("livetrans_bus_up", "1 while Redis answers this process")
        up.add_metric([], 1 if self.healthy else 0)
        yield up
        leases = GaugeMetricFamily("livetrans_lease_held", "Worker: broadcasts whose lease this worker holds",
                                   labels=["stream"])
        pending = GaugeMetricFamily("livetrans_bus_pending_events",
                                    "Worker: durable events waiting in memory for Redis", labels=["stream"])
        for name, link in self.links.items():
            leases.add_metric([name], 0 if link.lost else 1)
            pending.add_metric([name], link.outbox.durable_waiting)
        yield from (leases, pending)
        if self.edge is not None:
            readers = GaugeMetricFamily("livetrans_bus_readers", "Edge: broadcasts read from the bus for viewers")
            readers.add_metric([], len(self.edge.mirrors))
            yield readers

    # ---------------------------------------------------------------- worker side

    async def claim(self, name: str) -> WorkerLink:
        """Take the broadcast's lease, waiting out the lease of a worker that died.

        A live owner renews its lease every third of its lifetime: a lease whose
        remaining time goes up while we wait belongs to a live worker, and the
        claim fails at once with ``StreamBusy``. A dead owner's lease runs out
        within ``lease_seconds`` and we take it.
        """
        previous = self.links.get(name)
        if previous is not None:  # this process's last session of it is still flushing
            await previous.closed.wait()
        key = lease_key(name)
        ttl_ms = int(self.lease_seconds * 1000)
        deadline = time.monotonic() + self.lease_seconds + 1.0
        last_ttl: int | None = None
        try:
            while not await self.client.set(key, self.owner, nx=True, px=ttl_ms):
                ttl = int(await self.client.pttl(key))
                if ttl >= 0 and last_ttl is not None and ttl > last_ttl + 20:
                    raise StreamBusy(f"stream {name!r} is live on another worker")
                if time.monotonic() > deadline:
                    raise StreamBusy(f"stream {name!r} is live on another worker (its lease is still held)")
                last_ttl = ttl if ttl >= 0 else None
                await asyncio.sleep(0.1)
            top_entries = entries(await self.client.xrevrange(events_key(name), count=1))
            meta = cast(dict[bytes, bytes], await self.client.hgetall(meta_key(name)))
            stored = await self.client.get(vocabulary_key(name))
            self.ok()
        except RedisError as e:
            self.failed("claim", e)
            raise LivetransError(f"cannot take stream {name!r}: Redis unreachable ({e}); retry shortly") from e
        top = parse_entry_id(top_entries[0][0]) if top_entries else (0, 0)
        sessions = int(meta.get(b"sessions", b"0") or 0)
        link = WorkerLink(self, name, top, sessions)
        if stored:  # a live update of the broadcast outlives the worker that took it
            try:
                link.vocabulary = json.loads(stored)
            except ValueError:
                logger.warning("stream %s: malformed stored vocabulary ignored", name)
        self.links[name] = link
        logger.info("stream %s: lease taken by %s, continuing after seq %d", name, self.owner, top[0])
        return link

    def forget(self, link: WorkerLink) -> None:
        if self.links.get(link.name) is link:
            del self.links[link.name]
