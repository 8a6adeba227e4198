"""The request/response shell of the streaming recogniser (sans-I/O).

:class:`DecodeFlowProtocol` runs a decode *flow*: a generator that yields a
:class:`DecodeRequest` whenever it needs a decode and receives the
:class:`Hypothesis` that answers it (``hypothesis = yield request``). The caller sees
a protocol object, as websockets' protocol objects hand out bytes to send:

- ``pending``: the request to answer, or None;
- ``resolve(hypothesis)``: the answer, which runs the flow on to its next request;
- ``fail(request)``: the decode raised. It stays pending once more; when it fails
  again, :class:`DecodeFailed` is thrown into the flow, which drops its window and
  reports the audio lost (:func:`decode_failed`).

Each call returns the events the flow made ready meanwhile. What the flow does with
audio and hypotheses is the subclass's (``core/recognizer.py``); this module only
drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from ..types import CaptionEvent, ErrorEvent, SentenceEvent
from .decoding import DecodeRequest, Hypothesis
from .recognizer_options import RecognizerStats

log = logging.getLogger(__name__)

RecognizerEvent = CaptionEvent | SentenceEvent | ErrorEvent
Flow = Generator[DecodeRequest, Hypothesis, None]


class DecodeFailed(Exception):
    """A decode raised twice: thrown into the decode flow, which drops its window."""


def decode_failed(start: float, end: float) -> ErrorEvent:
    """The event saying that the audio from ``start`` to ``end`` (stream seconds) has
    no caption: its decode failed twice, and the flow dropped it."""
    log.warning("dropped %.1f s of audio at %.1f s: its decode failed twice", end - start, start)
    message = "the speech model failed on this audio twice; it has no caption"
    return ErrorEvent("recognition", "decode_failed", message, start=round(start, 3), end=round(end, 3))


class DecodeFlowProtocol:
    """Runs ``_process`` (the subclass's flow) request by request."""

    def __init__(self) -> None:
        self.stats = RecognizerStats()
        self._flow: Flow | None = None
        self._pending: DecodeRequest | None = None
        self._retried = False  # the pending request failed once already
        self._events: list[RecognizerEvent] = []  # made ready since the last call returned

    def _process(self) -> Flow:
        """The work queued so far, as a flow of decode requests (subclasses)."""
        raise NotImplementedError

    @property
    def pending(self) -> DecodeRequest | None:
        """The decode the caller must answer (``resolve`` or ``fail``) before more
        audio is processed; None when none is needed."""
        return self._pending

    def resolve(self, hypothesis: Hypothesis) -> list[RecognizerEvent]:
        """The answer to the pending request; returns the events it made ready."""
        if self._pending is None:
            raise RuntimeError("resolve() without a pending decode request")
        self.stats.decodes += 1
        return self._run(hypothesis)

    def fail(self, request: DecodeRequest) -> list[RecognizerEvent]:
        """The pending ``request`` raised. It stays pending once more; when it fails
        again its window is dropped and an ErrorEvent reports the audio lost."""
        if request is not self._pending:
            raise RuntimeError("fail() of a request that is not the pending one")
        self.stats.decodes += 1
        self.stats.failed += 1
        if not self._retried:
            self._retried = True
            return []
        return self._run(failed=True)

    def _run(self, hypothesis: Hypothesis | None = None, *, failed: bool = False) -> list[RecognizerEvent]:
        """Run the flow up to its next decode request or its end (all queued work done)."""
        if self._pending is None or hypothesis is not None or failed:
            try:
                if self._flow is None:
                    self._flow = self._process()
                    request = next(self._flow)
                elif failed:
                    request = self._flow.throw(DecodeFailed())
                else:
                    assert hypothesis is not None
                    request = self._flow.send(hypothesis)
                self._pending, self._retried = request, False
            except StopIteration:
                self._flow, self._pending = None, None
        events, self._events = self._events, []
        return events
