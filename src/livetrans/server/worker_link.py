"""The worker's side of the Redis bus: one broadcast's events, written in order.

A ``WorkerLink`` is the stream's ``Outlet``: its writer task empties an ``Outbox``
into Redis with one Lua script per batch that first checks the worker's lease, so
a worker that lost its lease can never write after its successor; a renew task
keeps the lease. ``bus.RedisBus.claim`` makes one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from .busfeed import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    REGISTRY_KEY,
    Outbox,
    Pending,
    entries,
    events_key,
    lease_key,
    live_channel,
    meta_key,
    parse_entry_id,
    vocabulary_key,
)

if TYPE_CHECKING:
    from .bus import RedisBus

logger = logging.getLogger(__name__)

AGE_TRIM_INTERVAL = 60.0  # seconds between trims of entries older than the retention age
CLOSE_FLUSH_TIMEOUT = 10.0  # seconds a stream's end waits for its last writes to reach Redis

# KEYS: lease, events, meta. ARGV: owner, maxlen (0: none), expire_ms (0: none), now, lease_ms, then for each
# entry: id, payload, meta ('' or a flat JSON object of fields to set, for markers). One script, so
# the lease check, the entries and the meta change together: an edge never sees one without the other.
APPEND_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  -- Ran out while this worker was slow or Redis away; nobody took it: take it again.
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
elseif holder ~= ARGV[1] then
  return redis.error_reply('NOTOWNER the lease belongs to another worker')
end
local written = 0
for i = 6, #ARGV, 3 do
  local r
  if ARGV[2] == '0' then
    r = redis.pcall('XADD', KEYS[2], ARGV[i], 'd', ARGV[i + 1], 'ts', ARGV[4])
  else
    r = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], ARGV[i], 'd', ARGV[i + 1], 'ts', ARGV[4])
  end
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'equal or smaller') then return r end
  else
    written = written + 1
    if ARGV[i + 2] ~= '' then
      for field, value in pairs(cjson.decode(ARGV[i + 2])) do
        if field == 'sessions' then
          redis.call('HINCRBY', KEYS[3], field, 1)
        else
          redis.call('HSET', KEYS[3], field, value)
        end
      end
    end
  end
end
if ARGV[3] ~= '0' then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return written
"""

# KEYS: lease. ARGV: owner, ttl_ms. 1: renewed, 2: taken again after it expired, 0: someone else's.
RENEW_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""

# KEYS: lease. ARGV: owner.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WorkerLink:
    """A worker's hold on one broadcast: the stream's ``Outlet`` to Redis, and its lease."""

    def __init__(self, bus: RedisBus, name: str, top: tuple[int, int], sessions: int) -> None:
        self.bus = bus
        self.name = name
        self.last_seq = top[0]
        self.sessions = sessions
        self.outbox = Outbox(top=top, capacity=bus.buffer_events)
        self.lost = False
        self.on_lost: Callable[[], None] | None = None
        self.vocabulary: dict[str, Any] | None = None  # a live update stored in Redis, if any
        self.closing = False
        self.closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._emptied = asyncio.Event()  # set whenever the outbox has been written out
        self._dropped_reported = 0
        self._writer = asyncio.create_task(self._write_loop(), name=f"bus-writer-{name}")
        self._renewer = asyncio.create_task(self._renew_loop(), name=f"bus-lease-{name}")

    # Outlet: called synchronously by StreamState.publish on the event loop.
    def durable(self, seq: int, payload: bytes) -> None:
        self.outbox.durable(seq, payload)
        self._wake.set()

    def partial(self, payload: bytes, track: str) -> None:
        if self.bus.healthy:  # a partial that cannot be sent now is stale by the time it could be
            self.outbox.partial(payload, track)
            self._wake.set()

    def marker(self, record: dict[str, Any]) -> None:
        self.outbox.marker(record)
        self._wake.set()

    async def written(self, timeout: float) -> bool:
        """Wait until everything published so far is in Redis (at most ``timeout`` s)."""
        self._emptied.clear()
        self._wake.set()
        try:
            await asyncio.wait_for(self._emptied.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Write what is left (bounded wait), then give the lease back."""
        if self.closed.is_set():
            return
        self.closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_FLUSH_TIMEOUT)
        except TimeoutError:
            logger.error("stream %s: Redis unreachable at the end; %d durable events not written",
                         self.name, self.outbox.durable_waiting)
            self._writer.cancel()
        except Exception:  # the writer logged it
            pass
        self._renewer.cancel()
        await asyncio.gather(self._writer, self._renewer, return_exceptions=True)
        if not self.lost:
            try:
                # The session ended: its live vocabulary ends with it; then the lease goes.
                await self.bus.client.delete(vocabulary_key(self.name))
                await self.bus._release(keys=[lease_key(self.name)], args=[self.bus.owner])
            except RedisError as e:
                self.bus.failed("release", e)  # the lease runs out by itself
        self.bus.forget(self)
        self.closed.set()

    def _lose(self, why: str) -> None:
        if self.lost:
            return
        self.lost = True
        logger.error("stream %s: %s; %d durable events not written, stopping it here",
                     self.name, why, self.outbox.durable_waiting)
        if self.on_lost is not None:
            self.on_lost()

    async def _write_loop(self) -> None:
        backoff = BACKOFF_MIN
        next_trim = time.monotonic() + AGE_TRIM_INTERVAL
        while not self.lost:
            batch = self.outbox.batch()
            if not batch:
                self._emptied.set()
                if self.closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._emptied.clear()
            try:
                await self._send(batch)
                self.outbox.done(len(batch))
                self.bus.ok()
                backoff = BACKOFF_MIN
            except ResponseError as e:
                if "NOTOWNER" in str(e):
                    self._lose("another worker holds its lease")
                    return
                self.bus.failed("append", e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except (RedisError, OSError) as e:
                self.bus.failed("append", e)
                self.outbox.drop_partials()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            if self.outbox.dropped > self._dropped_reported:
                self.bus.metrics.bus_dropped.labels(self.name).inc(self.outbox.dropped - self._dropped_reported)
                self._dropped_reported = self.outbox.dropped
            if time.monotonic() >= next_trim and self.bus.retention_seconds > 0:
                next_trim = time.monotonic() + AGE_TRIM_INTERVAL
                await self._trim_by_age()

    async def _send(self, batch: list[Pending]) -> None:
        bus = self.bus
        if batch[0].kind == "partial":
            await bus.client.publish(live_channel(self.name), batch[0].payload)
            return
        args: list[Any] = [bus.owner, bus.retention_events, int(bus.retention_seconds * 1000),
                           f"{time.time():.3f}", int(bus.lease_seconds * 1000)]
        for item in batch:
            meta = ""
            if item.kind == "marker":
                fields = _meta_of(item.payload, bus.owner)
                if fields["live"] == "1":
                    fields["session_entry"] = item.entry_id  # where a late edge's HLS replay starts
                meta = json.dumps(fields)
            args.extend((item.entry_id, item.payload, meta))
        await bus._append(keys=[lease_key(self.name), events_key(self.name), meta_key(self.name)], args=args)
        await bus.client.zadd(REGISTRY_KEY, {self.name: time.time()})

    async def _renew_loop(self) -> None:
        interval = self.bus.lease_seconds / 3
        ttl_ms = int(self.bus.lease_seconds * 1000)
        while not self.lost:
            await asyncio.sleep(interval)
            try:
                # Bounded: one stuck call must not hold back the next renewals past the lease.
                result = await asyncio.wait_for(
                    self.bus._renew(keys=[lease_key(self.name)], args=[self.bus.owner, ttl_ms]), interval)
                self.bus.ok()
            except (TimeoutError, RedisError, OSError) as e:
                self.bus.failed("lease", e if str(e) else TimeoutError("no answer in time"))
                continue
            if int(result) == 0:
                self._lose("its lease was taken by another worker")
            elif int(result) == 2:
                logger.warning("stream %s: lease had run out (Redis away); taken again", self.name)

    async def _trim_by_age(self) -> None:
        """Drop entries older than the retention age (their ids are seqs, not times)."""
        key = events_key(self.name)
        cutoff = time.time() - self.bus.retention_seconds
        try:
            oldest = entries(await self.bus.client.xrange(key, count=200))
            old = [raw_id for raw_id, fields in oldest if float(fields.get(b"ts", b"0") or 0) < cutoff]
            if old:
                seq, sub = parse_entry_id(old[-1])
                await self.bus.client.xtrim(key, minid=f"{seq}-{sub + 1}", approximate=False)
        except (RedisError, OSError, ValueError) as e:
            self.bus.failed("trim", e)


def _meta_of(payload: bytes, owner: str) -> dict[str, str]:
    """The meta fields a marker sets (``sessions`` is counted up, not set)."""
    record = json.loads(payload)
    if record.get("type") == "session":
        return {
            "live": "1",
            "source_lang": record.get("source_lang") or "",
            "languages": json.dumps(record.get("languages") or []),
            "started_at": str(record.get("started_at") or ""),
            "worker": owner,
            "sessions": "+1",
        }
    return {"live": "0", "last_seq": str(record.get("last_seq", "")), "ended_reason": str(record.get("reason", ""))}
