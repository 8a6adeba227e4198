"""A streaming recogniser driven synchronously: its decode requests answered at once.

The recogniser (recognizer.py) hands out decode requests and never calls a model;
:class:`DecodingRecognizer` answers them with one decoder in the caller's thread, so
``push`` and ``flush`` return every event with the decodes done, as the pipeline,
the evaluation and the tests want. (A scheduler that batches many streams' requests
drives the recognisers itself instead.)
"""

from __future__ import annotations

import logging

from ..types import AudioChunk
from .decoding import Decoder, decode
from .recognizer import RecognizerEvent, StreamingRecognizer
from .recognizer_options import RecognizerOptions, RecognizerStats
from .vocabulary import Vocabulary

log = logging.getLogger(__name__)


class DecodingRecognizer:
    """A :class:`StreamingRecognizer` whose requests ``decoder`` answers at once, in
    the caller's thread: ``push`` and ``flush`` return every event, decodes done."""

    def __init__(self, recognizer: StreamingRecognizer, decoder: Decoder) -> None:
        self.recognizer = recognizer
        self._decoder = decoder

    @property
    def options(self) -> RecognizerOptions:
        return self.recognizer.options

    @property
    def stats(self) -> RecognizerStats:
        return self.recognizer.stats

    @property
    def settled_until(self) -> float:
        return self.recognizer.settled_until

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        self.recognizer.set_vocabulary(vocabulary)

    def push(self, chunk: AudioChunk) -> list[RecognizerEvent]:
        return self.recognizer.push(chunk) + self._answer()

    def flush(self) -> list[RecognizerEvent]:
        return self.recognizer.flush() + self._answer()

    def _answer(self) -> list[RecognizerEvent]:
        events: list[RecognizerEvent] = []
        while (request := self.recognizer.pending) is not None:
            try:
                hypothesis = decode(self._decoder, request)
            except Exception:  # any failure of the model: the recogniser's policy decides
                log.warning("a decode of %.1f s of audio failed", request.seconds, exc_info=True)
                events += self.recognizer.fail(request)
                continue
            events += self.recognizer.resolve(hypothesis)
        return events
