"""One decode scheduler per speech model and process: every stream's decodes, batched.

:class:`BatchingDecoder` owns one model thread. Each stream gets a
:class:`StreamDecoder` (a :class:`~livetrans.core.decoding.Decoder`, so
``DecodingRecognizer`` uses it unchanged from the stream's worker thread): its
``decode`` queues the request and blocks until the model thread hands back the
hypothesis or the exception. What goes into each batch, and when, is the
:class:`~livetrans.core.batching.BatchPlanner`'s decision; this module only sleeps,
wakes and hands results over.

A failed batch is handed to each of its callers (their recogniser retries or drops
the window, per its policy). A stream that ends never disturbs a batch: a request in
flight is answered whether or not anyone still waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from .core.batching import BatchOptions, BatchPlanner
from .core.decoding import DecodeRequest, Hypothesis
from .types import Float32Array

log = logging.getLogger(__name__)

BatchDecode = Callable[[Sequence[DecodeRequest]], list[Hypothesis]]


@dataclass
class BatchStats:
    """What the model thread did so far (read by /metrics)."""

    batches: int = 0  # model calls
    requests: int = 0  # requests answered or failed in them
    failures: int = 0  # calls that raised
    busy_seconds: float = 0.0  # wall time inside the model
    sizes: dict[int, int] = field(default_factory=dict)  # requests per call → calls


@dataclass(frozen=True, eq=False)
class _Job:
    request: DecodeRequest
    future: Future[Hypothesis]


class BatchingDecoder:
    """Batches the decodes of every stream of a process into calls of ``decode_batch``."""

    def __init__(self, decode_batch: BatchDecode, options: BatchOptions | None = None) -> None:
        self.options = options or BatchOptions()
        self._decode_batch = decode_batch
        self._planner: BatchPlanner[_Job] = BatchPlanner(self.options, time.monotonic)
        self._changed = threading.Condition()
        self._stopping = False
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._run, name="decode-batches", daemon=True)
        self._thread.start()

    def stream(self) -> StreamDecoder:
        """A decoder for one stream; its queue closes when it is closed or dropped."""
        decoder = StreamDecoder(self)
        with self._changed:
            self._planner.open(decoder.key)
        weakref.finalize(decoder, self._close_stream, decoder.key)
        return decoder

    def close(self) -> None:
        """Stop the model thread once the running batch is done; queued callers fail."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def submit(self, key: int, request: DecodeRequest) -> Future[Hypothesis]:
        future: Future[Hypothesis] = Future()
        with self._changed:
            if self._stopping:
                raise RuntimeError("the decode scheduler is closed")
            self._planner.submit(key, _Job(request, future))
            self._changed.notify_all()
        return future

    def _close_stream(self, key: int) -> None:
        with self._changed:
            left = self._planner.close(key)
            self._changed.notify_all()
        for job in left:
            job.future.cancel()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopping and not (jobs := self._planner.take()):
                    self._changed.wait(self._planner.wait())
                if self._stopping:
                    break
            self._answer(jobs)
            with self._changed:
                self._planner.done()
        self._fail_queued()

    def _answer(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            hypotheses = self._decode_batch([job.request for job in jobs])
            if len(hypotheses) != len(jobs):
                raise RuntimeError(f"{len(hypotheses)} hypotheses for {len(jobs)} requests")
        except Exception as e:  # the callers' recognisers decide what a failure means
            log.warning("a batch of %d decodes failed", len(jobs), exc_info=True)
            self._count(len(jobs), time.perf_counter() - started, failed=True)
            for job in jobs:
                job.future.set_exception(e)
            return
        self._count(len(jobs), time.perf_counter() - started, failed=False)
        for job, hypothesis in zip(jobs, hypotheses):
            job.future.set_result(hypothesis)

    def _count(self, size: int, seconds: float, *, failed: bool) -> None:
        s = self.stats
        s.batches += 1
        s.requests += size
        s.failures += failed
        s.busy_seconds += seconds
        s.sizes[size] = s.sizes.get(size, 0) + 1

    def _fail_queued(self) -> None:
        with self._changed:
            left = self._planner.close_all()
        for job in left:
            job.future.set_exception(RuntimeError("the decode scheduler closed"))


class StreamDecoder:
    """One stream's way into a :class:`BatchingDecoder` (the ``Decoder`` protocol)."""

    _keys = iter(range(1, 1 << 62))
    _keys_lock = threading.Lock()

    def __init__(self, scheduler: BatchingDecoder) -> None:
        with self._keys_lock:
            self.key = next(self._keys)
        self._scheduler = scheduler

    def decode(
        self,
        audio: Float32Array,
        *,
        prompt: str,
        prefix: str,
        language: str | None,
        beam_size: int = 1,
    ) -> Hypothesis:
        """Queue the decode with the other streams' and wait for its hypothesis."""
        request = DecodeRequest(audio, prompt, prefix, language, beam_size)
        return self._scheduler.submit(self.key, request).result()

    def close(self) -> None:
        """This stream decodes no more: the scheduler stops waiting for it."""
        self._scheduler._close_stream(self.key)
