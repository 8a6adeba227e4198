"""The decode-flow protocol on its own (core/flow.py): a flow that asks for decodes,
answered or failing, with no recogniser, model or clock."""

from __future__ import annotations

import numpy as np
import pytest

from livetrans.core.decoding import DecodeRequest, Hypothesis
from livetrans.core.flow import DecodeFailed, DecodeFlowProtocol, Flow, decode_failed
from livetrans.types import ErrorEvent


def request(name: str) -> DecodeRequest:
    return DecodeRequest(np.zeros(160, np.float32), prompt=name, prefix="", language="en", beam_size=1)


def answer(language: str) -> Hypothesis:
    return Hypothesis((), (), language, 1.0, 0.0, 0.0, 1.0)


class TwoDecodes(DecodeFlowProtocol):
    """A flow that asks for two decodes and reports what it got, or what it lost."""

    def _process(self) -> Flow:
        for name in ("first", "second"):
            try:
                got = yield request(name)
                self._events.append(ErrorEvent("test", "answered", f"{name}: {got.language}"))
            except DecodeFailed:
                self._events.append(ErrorEvent("test", "dropped", name))

    def start(self) -> list:
        return self._run()


def test_each_answer_runs_the_flow_on_to_its_next_request() -> None:
    flow = TwoDecodes()
    assert flow.start() == [] and flow.pending is not None and flow.pending.prompt == "first"
    events = flow.resolve(answer("en"))
    assert [e.message for e in events] == ["first: en"] and flow.pending.prompt == "second"
    assert [e.message for e in flow.resolve(answer("es"))] == ["second: es"]
    assert flow.pending is None and flow.stats.decodes == 2


def test_a_decode_that_fails_twice_is_dropped_and_the_flow_goes_on() -> None:
    flow = TwoDecodes()
    flow.start()
    first = flow.pending
    assert first is not None
    assert flow.fail(first) == [] and flow.pending is first  # asked once more
    events = flow.fail(first)
    assert [(e.code, e.message) for e in events] == [("dropped", "first")]
    assert flow.pending is not None and flow.pending.prompt == "second"
    assert (flow.stats.decodes, flow.stats.failed) == (2, 2)


def test_the_audio_a_dropped_decode_lost_is_reported_in_stream_seconds() -> None:
    lost = decode_failed(1.23456, 3.5)
    assert (lost.stage, lost.code, lost.start, lost.end) == ("recognition", "decode_failed", 1.235, 3.5)


def test_answers_out_of_turn_are_refused() -> None:
    flow = TwoDecodes()
    with pytest.raises(RuntimeError, match="without a pending"):
        flow.resolve(answer("en"))
    flow.start()
    with pytest.raises(RuntimeError, match="not the pending one"):
        flow.fail(request("another"))
