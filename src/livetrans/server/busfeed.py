"""What travels over the Redis bus, and the two pure ends of it (no sockets, no asyncio).

Keys (docs/scaling.md): every key of one broadcast carries the hash tag
``{name}``, so that in Redis Cluster they share a slot and one script can touch
them all::

    livetrans:{main}:events   Stream: every durable event, then session and end markers
    livetrans:{main}:meta     Hash: source_lang, languages (JSON), live, started_at, worker
    livetrans:{main}:lease    String: the worker that owns the broadcast, with an expiry
    livetrans:{main}:live     Pub/Sub channel: partial captions and translation drafts
    livetrans:{main}:vocabulary  String: the live vocabulary replacing --glossary (JSON terms)
    livetrans:{main}:control  Pub/Sub channel: "the vocabulary changed", for the owning worker
    livetrans:streams         Sorted set: broadcast names by their last activity (unix s)

Entry ids come from ``seq``: durable event N is entry ``N-0``, so ``since=N`` is
one range read from ``N+1-0``. A marker (session start, end) written after
event N is entry ``N-k`` for the next free k. Each entry has the fields ``d``
(the event exactly as viewers receive it) and ``ts`` (unix seconds when the
worker wrote it, for the edges' bus-lag figure).

``Outbox`` is the worker's end: the ordered, bounded buffer of what is still to
be written (durable entries with their ids, partials). ``MirrorFeed`` is the
edge's end: it applies what the edge reads to a ``StreamState`` mirror, holding
a partial back until the durable events before it have arrived, and dropping a
partial that a final already replaced.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .hub import StreamState

logger = logging.getLogger(__name__)

BACKOFF_MIN = 0.1  # seconds between retries while Redis is unreachable, doubling...
BACKOFF_MAX = 2.0  # ...up to this
PREFIX = "livetrans"
REGISTRY_KEY = f"{PREFIX}:streams"


def events_key(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:events"


def meta_key(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:meta"


def lease_key(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:lease"


def live_channel(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:live"


def vocabulary_key(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:vocabulary"


def control_channel(stream: str) -> str:
    return f"{PREFIX}:{{{stream}}}:control"


CONTROL_PATTERN = f"{PREFIX}:{{*}}:control"


def stream_of_channel(channel: str, kind: str = "live") -> str | None:
    head, sep, rest = channel.partition(":{")
    name, sep2, tail = rest.partition("}:")
    if head != PREFIX or not sep or not sep2 or tail != kind:
        return None
    return name


Entry = tuple[bytes, dict[bytes, bytes]]  # a Stream entry as redis-py returns it (bytes, no decoding)


def entries(reply: object) -> list[Entry]:
    """An XRANGE/XREVRANGE reply, typed (redis-py's stubs cover sync and async at once)."""
    return cast(list[Entry], reply or [])


def entry_id(seq: int, sub: int = 0) -> str:
    return f"{seq}-{sub}"


def parse_entry_id(raw: str | bytes) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    seq, _, sub = text.partition("-")
    return int(seq), int(sub or 0)


# ------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class Pending:
    """One write waiting for Redis: a durable entry (with its id) or a partial."""

    kind: Literal["durable", "marker", "partial"]
    payload: bytes
    entry_id: str = ""
    seq: int = 0
    track: str = ""  # a partial's: a newer one of the same track replaces it


@dataclass
class Outbox:
    """The worker's buffer of writes for one broadcast, in publish order.

    Durable entries wait here until Redis has them, so a Redis outage costs no
    event: ``capacity`` bounds the memory; past it the oldest durable entry is
    dropped (and counted) rather than the newest, so viewers see a ``gap`` at the
    outage, not a stream that stops. Partials are dropped first: they are stale
    once anything newer exists. ``top`` is the last entry id written or queued,
    from which markers take their ids.
    """

    top: tuple[int, int] = (0, 0)
    capacity: int = 100_000
    items: deque[Pending] = field(default_factory=deque)
    dropped: int = 0  # durable entries lost to a full buffer

    def durable(self, seq: int, payload: bytes) -> None:
        self.top = (seq, 0)
        self._add(Pending("durable", payload, entry_id(seq), seq))

    def marker(self, record: dict[str, Any]) -> None:
        seq, sub = self.top
        self.top = (seq, sub + 1)
        payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._add(Pending("marker", payload, entry_id(*self.top), seq))

    def partial(self, payload: bytes, track: str = "") -> None:
        # Only the newest partial of a track matters; an older one still waiting is stale.
        if self.items and self.items[-1].kind == "partial" and self.items[-1].track == track:
            self.items.pop()
        self._add(Pending("partial", payload, track=track))

    def _add(self, item: Pending) -> None:
        self.items.append(item)
        while len(self.items) > self.capacity:
            victim = next((i for i, p in enumerate(self.items) if p.kind == "partial"), 0)
            removed = self.items[victim]
            del self.items[victim]
            if removed.kind != "partial":
                self.dropped += 1

    def batch(self, limit: int = 256) -> list[Pending]:
        """The next writes to send, oldest first: a run of durable entries, or one partial."""
        out: list[Pending] = []
        for item in self.items:
            if item.kind == "partial":
                if not out:
                    out.append(item)
                break
            out.append(item)
            if len(out) >= limit:
                break
        return out

    def done(self, count: int) -> None:
        """The first ``count`` items reached Redis (or, for partials, were sent or dropped)."""
        for _ in range(min(count, len(self.items))):
            self.items.popleft()

    def drop_partials(self) -> None:
        """Redis is unreachable: live partials would be stale by the time it is back."""
        kept = [p for p in self.items if p.kind != "partial"]
        self.items = deque(kept)

    @property
    def durable_waiting(self) -> int:
        return sum(p.kind != "partial" for p in self.items)


# --------------------------------------------------------------------------- edge


class MalformedEntry(ValueError):
    """Data on the bus that is not what a worker writes: logged and skipped."""


def decode_payload(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedEntry(f"not JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedEntry("not an object with a type")
    return data


def _event_seq(data: dict[str, Any]) -> int:
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise MalformedEntry(f"event without an integer seq: {seq!r}")
    return seq


def _is_durable_event(data: dict[str, Any]) -> bool:
    return data["type"] in ("sentence",) or data.get("kind") == "final"


@dataclass
class MirrorFeed:
    """Applies bus data to an edge's mirror of one broadcast (a ``StreamState``)."""

    stream: StreamState
    last_entry: tuple[int, int] = (0, 0)  # the last stream entry applied
    held: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)  # partials ahead of durables
    last_final_caption_seq: int = 0
    final_translations: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=256))

    def entry(self, raw_id: str | bytes, payload: bytes) -> dict[str, Any] | None:
        """Apply one stream entry; returns the decoded record, or None if it was old.
        Raises ``MalformedEntry`` for data no worker writes (the caller skips it)."""
        try:
            position = parse_entry_id(raw_id)
        except ValueError as e:
            raise MalformedEntry(f"entry id {raw_id!r}") from e
        if position <= self.last_entry:
            return None
        self.last_entry = position
        data = decode_payload(payload)
        kind = data["type"]
        if kind == "session":
            self.stream.resume(data)
            return data
        if kind == "end":
            if self.stream.live:
                self.stream.end(str(data.get("reason", "stream ended")))
            return data
        seq = _event_seq(data)
        if seq != position[0] or not _is_durable_event(data):
            raise MalformedEntry(f"entry {raw_id!r} holds a {kind} with seq {seq}")
        if seq <= self.stream.last_seq:
            return None  # already had it (a mirror built from the stream's top)
        if kind == "caption":
            self.last_final_caption_seq = seq
        elif kind == "translation":
            self.final_translations.append((str(data.get("lang")), str(data.get("id"))))
        self.stream.fan_out(data, payload, durable=True)
        self._release()
        return data

    def partial(self, payload: bytes) -> dict[str, Any] | None:
        """Apply one partial from Pub/Sub; the decoded event if it went (or waits) to the
        viewers, None if a final already replaced it."""
        data = decode_payload(payload)
        seq = _event_seq(data)
        if _is_durable_event(data):
            raise MalformedEntry(f"a durable {data['type']} on the partials channel")
        if self._stale(data, seq):
            return None
        if seq > self.stream.last_seq:
            # Published after durable events this edge has not read yet: wait for them.
            self.held = [(d, p) for d, p in self.held if self._track(d) != self._track(data)]
            self.held.append((data, payload))
            return data
        self.stream.fan_out(data, payload, durable=False)
        return data

    def _release(self) -> None:
        ready = [(d, p) for d, p in self.held if int(d["seq"]) <= self.stream.last_seq]
        if not ready:
            return
        self.held = [(d, p) for d, p in self.held if int(d["seq"]) > self.stream.last_seq]
        for data, payload in ready:
            if not self._stale(data, int(data["seq"])):
                self.stream.fan_out(data, payload, durable=False)

    def _stale(self, data: dict[str, Any], seq: int) -> bool:
        if data["type"] == "caption":
            return seq < self.last_final_caption_seq
        if data["type"] == "translation":
            return (str(data.get("lang")), str(data.get("id"))) in self.final_translations
        return False

    @staticmethod
    def _track(data: dict[str, Any]) -> str:
        return f"translation:{data.get('lang')}" if data["type"] == "translation" else str(data["type"])


def durable_event(data: dict[str, Any]) -> bool:
    """Whether a decoded event dict is durable (what the Stream holds; the rest is Pub/Sub)."""
    return _is_durable_event(data)
