"""Which streams' decode requests go into the model's next batched call, and when.

A sans-I/O decision object with an injected clock: the thread that runs the model
(livetrans.scheduler) asks it what to run and how long to sleep; tests drive it with
hand-set times and no threads.

The rules:

- fairness: a batch takes at most one request per stream, oldest first, so a stream
  that queued several cannot crowd the others out, and no stream waits more than
  one batch behind a stream that asked later;
- a bounded wait: a batch goes at once when it is full or when every active stream
  has a request queued (there is nobody to wait for); otherwise it waits for the
  others at most ``max_wait`` from the later of the oldest request's arrival and the
  end of the previous batch. The second matters when the model is saturated: the
  streams just answered ask again a few milliseconds after their answer, and
  without the wait the model would alternate between streams one request at a
  time instead of batching them. A stream that asked for nothing for
  ``idle_after`` (silence, or a stream that ended without closing) is not waited for;
- bounded queues: a stream holds at most ``max_queued`` requests (a streaming
  recogniser has at most one decode pending, so one is enough).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BatchOptions:
    # Requests in one model call at most: more streams' windows than this are
    # decoded in the next call.
    max_batch: int = 4
    # s a request waits for other streams' requests when the model was idle; the
    # latency one stream may pay so that several share a call.
    max_wait: float = 0.03
    # Requests one stream may have queued (a recogniser has one pending at most).
    max_queued: int = 1
    # s without a request after which a stream no longer counts as one to wait for
    # (a stream decodes about twice a second while someone speaks).
    idle_after: float = 2.0

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_queued < 1 or self.max_wait < 0 or self.idle_after < 0:
            raise ValueError(f"batch options out of range: {self}")


class QueueFull(Exception):
    """A stream submitted more requests than its queue holds."""


@dataclass(frozen=True)
class _Queued(Generic[T]):
    item: T
    arrived: float  # clock time of submission


class BatchPlanner(Generic[T]):
    """The queues of all streams and the decision of what the model runs next."""

    def __init__(self, options: BatchOptions, clock: Callable[[], float]) -> None:
        self.options = options
        self._clock = clock
        self._queues: dict[Hashable, deque[_Queued[T]]] = {}
        self._last_request: dict[Hashable, float] = {}  # clock time of each stream's latest submit
        self.busy = False  # a batch taken and not yet done
        self._free_since = self._clock()  # clock time the model last finished a batch

    # -- streams ------------------------------------------------------------------------

    def open(self, stream: Hashable) -> None:
        self._queues.setdefault(stream, deque())
        self._last_request.setdefault(stream, self._clock())

    def close(self, stream: Hashable) -> list[T]:
        """Forget ``stream``; return what it still had queued (not yet in a batch)."""
        self._last_request.pop(stream, None)
        return [q.item for q in self._queues.pop(stream, deque())]

    def close_all(self) -> list[T]:
        """Forget every stream; return what they still had queued."""
        return [item for stream in list(self._queues) for item in self.close(stream)]

    @property
    def streams(self) -> int:
        return len(self._queues)

    def submit(self, stream: Hashable, item: T) -> None:
        """Queue ``item`` for ``stream`` (opened if new). QueueFull when its queue is full."""
        queue = self._queues.setdefault(stream, deque())
        if len(queue) >= self.options.max_queued:
            raise QueueFull(f"stream {stream!r} already has {len(queue)} request(s) queued")
        now = self._clock()
        queue.append(_Queued(item, now))
        self._last_request[stream] = now

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    # -- decisions ----------------------------------------------------------------------

    def due(self) -> float | None:
        """Clock time at which the next batch should start; None when nothing is queued.
        (While a batch runs, the next one starts when it is done, if this time has come.)"""
        heads = [q[0] for q in self._queues.values() if q]
        if not heads:
            return None
        oldest = min(h.arrived for h in heads)
        waiting_streams = len(heads)
        recent = self._clock() - self.options.idle_after
        active = sum(1 for s, q in self._queues.items() if q or self._last_request[s] >= recent)
        if waiting_streams >= min(self.options.max_batch, active):
            return oldest
        return max(oldest, self._free_since) + self.options.max_wait

    def wait(self) -> float | None:
        """Seconds until the next batch is due (0: now); None when there is nothing to run
        or a batch is running."""
        if self.busy:
            return None
        due = self.due()
        return None if due is None else max(0.0, due - self._clock())

    def take(self) -> list[T]:
        """The next batch if it is due and the model is free ([] otherwise): the oldest
        request of each stream, oldest streams first. The model is busy until ``done``."""
        if self.wait() != 0.0:
            return []
        heads = sorted(
            ((q[0].arrived, stream) for stream, q in self._queues.items() if q), key=lambda h: h[0]
        )
        batch = [self._queues[stream].popleft().item for _, stream in heads[: self.options.max_batch]]
        self.busy = True
        return batch

    def done(self) -> None:
        """The running batch finished (or failed)."""
        self.busy = False
        self._free_since = self._clock()
