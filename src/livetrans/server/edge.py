"""The edge's side of the Redis bus (socket shell): mirrors of the broadcasts viewers watch.

An edge keeps no state of its own. The first viewer of a broadcast on this edge
creates its mirror, a ``StreamState`` that viewers join exactly as they join a
local stream, and one reader task that follows the broadcast's Redis Stream
(``XREAD BLOCK``) and feeds the mirror through ``busfeed.MirrorFeed``. Partials
arrive over one Pub/Sub connection per edge, subscribed to the channels of the
mirrored broadcasts. When the last viewer leaves, the mirror stays for
``IDLE_GRACE`` seconds (a reconnecting viewer finds it warm), then goes.

A viewer's ``since`` replay comes from the mirror's memory when it reaches back
far enough, else from one ``XRANGE`` read. Malformed data on the bus is logged,
counted and skipped. While Redis is unreachable the readers retry with a
backoff and resume from the last entry they applied, so viewers stay connected
and miss nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .bus import RedisBus
from .busfeed import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    REGISTRY_KEY,
    Entry,
    MalformedEntry,
    MirrorFeed,
    decode_payload,
    entries,
    events_key,
    live_channel,
    meta_key,
    parse_entry_id,
    stream_of_channel,
)
from .hub import Durable, StreamState

if TYPE_CHECKING:
    from .app import CaptionServer

logger = logging.getLogger(__name__)

IDLE_GRACE = 30.0  # seconds a mirror outlives its last viewer
PUBSUB_POLL = 0.2  # seconds a Pub/Sub read waits before it looks again
READ_BLOCK_MS = 2_000  # XREAD BLOCK: how long one read waits for new entries
READ_COUNT = 512  # entries per read at most
HISTORY_PAGE = 1_000  # entries per XRANGE page of a replay
HISTORY_RETRY_SECONDS = 30.0  # a replay waits this long for Redis before it starts with a gap


@dataclass
class Mirror:
    state: StreamState
    feed: MirrorFeed
    reader: asyncio.Task[None] | None = None
    users: int = 0
    idle_since: float | None = None


class EdgeMirrors:
    def __init__(self, bus: RedisBus, server: CaptionServer) -> None:
        self.bus = bus
        self.server = server
        self.mirrors: dict[str, Mirror] = {}
        self._attaching: dict[str, asyncio.Lock] = {}
        self._pubsub: PubSub | None = None
        self._pubsub_task: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None
        bus.edge = self

    def start(self) -> None:
        self._pubsub_task = asyncio.create_task(self._pubsub_loop(), name="bus-partials")
        self._janitor = asyncio.create_task(self._drop_idle(), name="bus-mirror-janitor")

    async def stop(self) -> None:
        tasks = [t for t in (self._pubsub_task, self._janitor) if t is not None]
        tasks += [m.reader for m in self.mirrors.values() if m.reader is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()

    # ---------------------------------------------------------------- viewers

    async def attach(self, name: str) -> StreamState | None:
        """The mirror of ``name`` for one more viewer, or None if the bus never saw it."""
        lock = self._attaching.setdefault(name, asyncio.Lock())
        async with lock:
            mirror = self.mirrors.get(name)
            if mirror is None:
                mirror = await self._open(name)
                if mirror is None:
                    return None
            mirror.users += 1
            mirror.idle_since = None
            return mirror.state

    def release(self, name: str) -> None:
        mirror = self.mirrors.get(name)
        if mirror is not None:
            mirror.users = max(0, mirror.users - 1)
            if mirror.users == 0:
                mirror.idle_since = time.monotonic()

    async def _open(self, name: str) -> Mirror | None:
        client = self.bus.client
        try:
            async with client.pipeline(transaction=True) as pipe:  # one snapshot of both
                pipe.hgetall(meta_key(name))
                pipe.xrevrange(events_key(name), count=1)
                meta, top_reply = await pipe.execute()
            top_entries = entries(top_reply)
            self.bus.ok()
        except RedisError as e:
            self.bus.failed("open", e)
            raise
        if not meta and not top_entries:
            return None
        top = parse_entry_id(top_entries[0][0]) if top_entries else (0, 0)
        state = StreamState(name, memory_events=self.server.config.memory_events)
        state.last_seq = top[0]
        session_entry = (meta.get(b"session_entry") or b"").decode()
        state.live = meta.get(b"live") == b"1"
        state.source_lang = (meta.get(b"source_lang") or b"").decode() or None
        try:
            state.languages = [str(x) for x in json.loads(meta.get(b"languages") or b"[]")]
        except ValueError:
            logger.warning("stream %s: malformed languages in its meta; ignored", name)
        state.sessions = int(meta.get(b"sessions") or 0)
        started = meta.get(b"started_at") or b""
        state.started_at = float(started) if started else None
        mirror = Mirror(state, MirrorFeed(state, last_entry=top))
        self.server.hls.attach(state)
        if session_entry and parse_entry_id(session_entry) <= top:
            try:
                await self._replay_session(mirror, session_entry, top)
            except (RedisError, OSError):
                self.server.hls.packagers.pop(name, None)  # the next attach starts afresh
                raise
        self.mirrors[name] = mirror
        self.server.streams[name] = state
        mirror.reader = asyncio.create_task(self._read(mirror), name=f"bus-reader-{name}")
        await self._resubscribe()
        logger.info("stream %s: mirrored from the bus after seq %d", name, top[0])
        return mirror

    async def _replay_session(self, mirror: Mirror, session_entry: str, top: tuple[int, int]) -> None:
        """Feed a new mirror the live session so far (its memory, and consumers such as the
        HLS packager that need the whole session); no viewer is attached yet."""
        seq, sub = parse_entry_id(session_entry)
        mirror.state.last_seq = seq
        mirror.state.sessions = max(0, mirror.state.sessions - 1)  # the marker counts it again
        mirror.feed.last_entry = (seq, sub - 1)
        start = session_entry
        while True:
            page = entries(await self.bus.client.xrange(events_key(mirror.state.name), min=start,
                                                         max="{}-{}".format(*top), count=HISTORY_PAGE))
            for raw_id, fields in page:
                self._apply(mirror, raw_id, fields, live=False)
            if len(page) < HISTORY_PAGE:
                break
            last_seq, last_sub = parse_entry_id(page[-1][0])
            start = f"{last_seq}-{last_sub + 1}"
        mirror.feed.last_entry = max(mirror.feed.last_entry, top)
        mirror.state.last_seq = max(mirror.state.last_seq, top[0])

    async def _drop_idle(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, IDLE_GRACE))
            now = time.monotonic()
            for name, mirror in list(self.mirrors.items()):
                if mirror.idle_since is not None and now - mirror.idle_since >= IDLE_GRACE and not mirror.state.viewers:
                    await self._close(name, mirror)

    async def _close(self, name: str, mirror: Mirror) -> None:
        del self.mirrors[name]
        self.server.hls.packagers.pop(name, None)  # a later mirror replays the session afresh
        if self.server.streams.get(name) is mirror.state:
            del self.server.streams[name]
        if mirror.reader is not None:
            mirror.reader.cancel()
            await asyncio.gather(mirror.reader, return_exceptions=True)
        await self._resubscribe()

    # ---------------------------------------------------------------- reading

    async def _read(self, mirror: Mirror) -> None:
        key = events_key(mirror.state.name)
        backoff = BACKOFF_MIN
        while True:
            last = "{}-{}".format(*mirror.feed.last_entry)
            try:
                response = await self.bus.client.xread({key: last}, count=READ_COUNT, block=READ_BLOCK_MS)
                self.bus.ok()
                backoff = BACKOFF_MIN
            except (RedisError, OSError) as e:
                self.bus.failed("read", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            for _key, found in cast(list[tuple[bytes, list[Entry]]], response or []):
                for raw_id, fields in found:
                    self._apply(mirror, raw_id, fields)

    def _apply(self, mirror: Mirror, raw_id: bytes, fields: dict[bytes, bytes], live: bool = True) -> None:
        name = mirror.state.name
        try:
            data = mirror.feed.entry(raw_id, fields.get(b"d", b""))
        except MalformedEntry as e:
            self.server.metrics.bus_malformed.labels(name).inc()
            logger.warning("stream %s: malformed bus entry %r skipped: %s", name, raw_id, e)
            try:  # skip it for good: the next read starts after it
                mirror.feed.last_entry = max(mirror.feed.last_entry, parse_entry_id(raw_id))
            except ValueError:
                pass
            return
        if data is None or not live:
            return
        try:
            self.server.metrics.bus_lag.observe(max(0.0, time.time() - float(fields.get(b"ts", b"0"))))
        except ValueError:
            pass
        self.server.count_event(name, data)

    async def _pubsub_loop(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            pubsub = self.bus.client.pubsub(ignore_subscribe_messages=True)
            try:
                self._pubsub = pubsub  # from now on, mirrors opened or closed reconcile it at once
                await self._reconcile(pubsub)
                while True:
                    if not pubsub.subscribed:
                        await asyncio.sleep(PUBSUB_POLL)
                        continue
                    message = await pubsub.get_message(timeout=PUBSUB_POLL)
                    if message is not None and message.get("type") == "message":
                        self._partial(message)
                    backoff = BACKOFF_MIN
            except (RedisError, OSError) as e:
                self.bus.failed("pubsub", e)
                self._pubsub = None
                await pubsub.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _resubscribe(self) -> None:
        """After a mirror opened or closed: the Pub/Sub connection follows at once (if it is
        down, the loop reconciles when it reconnects)."""
        if self._pubsub is None:
            return
        try:
            await self._reconcile(self._pubsub)
        except RedisError as e:
            self.bus.failed("subscribe", e)

    async def _reconcile(self, pubsub: PubSub) -> None:
        """Subscribed to exactly the mirrored broadcasts' channels."""
        wanted = {live_channel(name) for name in self.mirrors}
        have = {c.decode() if isinstance(c, bytes) else str(c) for c in pubsub.channels}
        if wanted - have:
            await pubsub.subscribe(*(wanted - have))
        if have - wanted:
            await pubsub.unsubscribe(*(have - wanted))

    def _partial(self, message: dict[str, Any]) -> None:
        channel = message.get("channel", b"")
        name = stream_of_channel(channel.decode() if isinstance(channel, bytes) else str(channel))
        mirror = self.mirrors.get(name or "")
        if mirror is None:
            return
        try:
            data = mirror.feed.partial(message["data"])
            if data is not None:
                self.server.count_event(mirror.state.name, data)
        except MalformedEntry as e:
            self.server.metrics.bus_malformed.labels(mirror.state.name).inc()
            logger.warning("stream %s: malformed partial on the bus skipped: %s", mirror.state.name, e)

    # ---------------------------------------------------------------- history

    async def history(self, name: str, since: int, upto: int) -> list[Durable]:
        """Durable events with since < seq <= upto, oldest first, from the Redis Stream."""
        key = events_key(name)
        out: list[Durable] = []
        start = f"{since + 1}-0"
        deadline = time.monotonic() + HISTORY_RETRY_SECONDS
        backoff = BACKOFF_MIN
        while True:
            try:
                page = entries(await self.bus.client.xrange(key, min=start, max=f"{upto}-0", count=HISTORY_PAGE))
                self.bus.ok()
            except (RedisError, OSError) as e:
                self.bus.failed("history", e)
                if time.monotonic() + backoff > deadline:
                    raise RedisError(f"history unavailable: {e}") from e
                await asyncio.sleep(backoff)  # the viewer waits; live events queue meanwhile
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            for raw_id, fields in page:
                seq, sub = parse_entry_id(raw_id)
                if sub != 0:
                    continue  # a session or end marker
                payload = fields.get(b"d", b"")
                try:
                    data = decode_payload(payload)
                except MalformedEntry as e:
                    self.server.metrics.bus_malformed.labels(name).inc()
                    logger.warning("stream %s: malformed bus entry %r skipped in a replay: %s", name, raw_id, e)
                    continue
                out.append(Durable(seq, str(data["type"]), str(data.get("lang", "")), payload))
            if len(page) < HISTORY_PAGE:
                return out
            seq, sub = parse_entry_id(page[-1][0])
            start = f"{seq}-{sub + 1}"

    async def listing(self) -> list[dict[str, Any]]:
        """Every broadcast the bus knows, newest activity first (for /v1/streams)."""
        client = self.bus.client
        try:
            names = [bytes(n).decode() for n in cast(list[bytes], await client.zrevrange(REGISTRY_KEY, 0, 999))]
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(meta_key(name))
                    pipe.xrevrange(events_key(name), count=1)
                replies = await pipe.execute()
            self.bus.ok()
        except RedisError as e:
            self.bus.failed("listing", e)
            raise
        out = []
        for i, name in enumerate(names):
            meta, top = replies[2 * i], replies[2 * i + 1]
            if not meta:
                continue  # expired
            try:
                languages = json.loads(meta.get(b"languages") or b"[]")
            except ValueError:
                languages = []
            mirror = self.mirrors.get(name)
            started = meta.get(b"started_at") or b""
            out.append({
                "name": name,
                "live": meta.get(b"live") == b"1",
                "source_lang": (meta.get(b"source_lang") or b"").decode() or None,
                "languages": languages,
                "viewers": len(mirror.state.viewers) if mirror else 0,
                "last_seq": parse_entry_id(top[0][0])[0] if top else 0,
                "sessions": int(meta.get(b"sessions") or 0),
                "started_at": float(started) if started else None,
            })
        return out
