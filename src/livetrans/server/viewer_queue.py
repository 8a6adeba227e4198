"""A viewer's bounded outgoing queue: the per-viewer back-pressure policy (pure).

Policy (docs/protocol.md, "Slow viewers"):

* At most one partial waits per track (the source captions, and each language's
  translation drafts): a newer partial replaces the waiting one of its track (the
  newest wins), and a final of that track with the partial's id supersedes it.
* Durable events (finals, sentences, translations) are never dropped. When more
  than ``max_durable`` of them wait, the queue is *overflowed*: the shell closes
  the viewer with ``CloseCode.VIEWER_TOO_SLOW`` and the reason names the seq to
  resume from, so a reconnect with ``since=`` loses nothing.
* Control messages (``end``) are never dropped and do not count to the limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class QueueItem:
    """One encoded message waiting to go out; ``payload`` is UTF-8 JSON text."""

    payload: bytes
    seq: int = 0
    durable: bool = False
    control: bool = False
    caption_id: str = ""  # a caption's (or translation's) id: lets a final supersede its partial
    track: str = "caption"  # partials of one track replace each other ("translation:es", ...)
    enqueued_at: float = 0.0  # monotonic seconds, for the fan-out delay metric
    dead: bool = field(default=False, repr=False)


class ViewerQueue:
    def __init__(self, max_durable: int) -> None:
        if max_durable < 1:
            raise ValueError("max_durable must be at least 1")
        self.max_durable = max_durable
        self._items: deque[QueueItem] = deque()
        self._durable = 0
        self._live = 0  # items not marked dead
        self._partials: dict[str, QueueItem] = {}  # track -> its waiting partial
        self.overflowed = False
        self.dropped_partials = 0

    def __len__(self) -> int:
        return self._live

    @property
    def durable_depth(self) -> int:
        return self._durable

    def _kill_partial(self, track: str) -> None:
        partial = self._partials.pop(track, None)
        if partial is not None and not partial.dead:
            partial.dead = True
            self._live -= 1
            self.dropped_partials += 1

    def offer(self, item: QueueItem) -> bool:
        """Queue an item; False when the queue is (now) overflowed and the viewer must go."""
        if self.overflowed:
            return False
        if item.control:
            self._items.append(item)
            self._live += 1
            return True
        if not item.durable:
            self._kill_partial(item.track)
            self._partials[item.track] = item
            self._items.append(item)
            self._live += 1
            return True
        if self._durable >= self.max_durable:
            self.overflowed = True
            return False
        waiting = self._partials.get(item.track)
        if waiting is not None and item.caption_id and waiting.caption_id == item.caption_id:
            self._kill_partial(item.track)
        self._items.append(item)
        self._durable += 1
        self._live += 1
        return True

    def take(self, limit: int = 64) -> list[QueueItem]:
        """Remove and return up to ``limit`` waiting items, oldest first."""
        out: list[QueueItem] = []
        while self._items and len(out) < limit:
            item = self._items.popleft()
            if item.dead:
                continue
            self._live -= 1
            if item.durable:
                self._durable -= 1
            if self._partials.get(item.track) is item:
                del self._partials[item.track]
            out.append(item)
        return out
