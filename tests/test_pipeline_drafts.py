"""The live pipeline's translator scheduling: drafts while a sentence is spoken,
finished sentences first (a draft in progress is stopped for them), and a draft
that turns out to be the whole sentence serves as its final translation.

The recogniser is a script of events; the translation stage is the real one over a
slow stand-in translator that honours ``cancel`` as the engines do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np
from scripted import sentence_words

from livetrans.mt.base import ModelInfo, check_pairs
from livetrans.mt.stage import TranslationStage
from livetrans.pipeline import LivePipeline, PipelineConfig
from livetrans.types import (
    AudioChunk,
    CaptionEvent,
    Event,
    SentenceEvent,
    TranslationEvent,
    Word,
)

INFO = ModelInfo("slow", "nllb", frozenset({"eng_Latn", "spa_Latn"}))


class SlowTranslator:
    """Takes ``seconds`` per call, polling ``cancel`` like a decoder between tokens."""

    info = INFO

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[tuple[list[str], bool]] = []  # texts, cancelled

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        check_pairs(self.info, source, targets)

    def translate_batch(
        self, texts: Sequence[str], source: str, targets: Sequence[str], cancel: Callable[[], bool] | None = None
    ) -> dict[str, list[str]]:
        deadline = time.monotonic() + self.seconds
        stopped = False
        while time.monotonic() < deadline:
            if cancel is not None and cancel():
                stopped = True
                break
            time.sleep(0.005)
        self.calls.append((list(texts), stopped))
        return {t: [f"<{t}> {text}" for text in texts] for t in targets}


class ScriptedRecognizer:
    """Gives one scripted list of events per audio push."""

    def __init__(self, script: list[list[Event]]) -> None:
        self.script = list(script)

    def push(self, chunk: AudioChunk) -> list[Event]:
        return self.script.pop(0) if self.script else []

    def flush(self) -> list[Event]:
        return [event for events in self.script for event in events]


class ScriptedModels:
    def __init__(self, script: list[list[Event]]) -> None:
        self.script = script

    def recognizer(self, options: Any, vocabulary: Any = None) -> ScriptedRecognizer:
        return ScriptedRecognizer(self.script)


def partial(words: list[Word], sid: str = "s1") -> CaptionEvent:
    return CaptionEvent(kind="partial", id="c1", start=words[0].start, end=words[-1].end,
                        text="".join(w.text for w in words).strip(), lang="en", words=tuple(words), sentence_id=sid)


def ended(words: list[Word], sid: str = "s1") -> list[Event]:
    text = "".join(w.text for w in words).strip()
    return [
        CaptionEvent(kind="final", id="c1", start=words[0].start, end=words[-1].end, text=text, lang="en",
                     words=tuple(words), sentence_id=sid),
        SentenceEvent(id=sid, start=words[0].start, end=words[-1].end, text=text, lang="en", words=tuple(words)),
    ]


def run_script(script: list[list[Event]], translator: SlowTranslator) -> tuple[list[Event], TranslationStage]:
    stage = TranslationStage(translator, ["es"])
    config = PipelineConfig(targets=("es",))
    pipeline = LivePipeline(config, models=ScriptedModels(script), translator=stage)  # type: ignore[arg-type]

    async def audio() -> AsyncIterator[AudioChunk]:
        for i in range(len(script)):
            yield AudioChunk(np.zeros(1600, np.float32), i * 0.1)
            await asyncio.sleep(0.1)  # a push every 100 ms, as live

    async def collect() -> list[Event]:
        return [event async for event in pipeline.run(audio())]

    return asyncio.run(collect()), stage


def translations(events: list[Event]) -> list[TranslationEvent]:
    return [e for e in events if isinstance(e, TranslationEvent)]


def test_a_draft_whose_sentence_ends_as_drafted_is_its_final_translation() -> None:
    words = sentence_words("Big sale tonight.", 0.0)
    translator = SlowTranslator(1.0)
    # The whole sentence shows as a partial, then ends while its draft is translated.
    events, stage = run_script([[partial(words)], [], [], ended(words)], translator)
    assert translator.calls == [(["Big sale tonight."], False)]  # one call, not stopped
    final = [t for t in translations(events) if t.kind == "final"]
    assert [(t.id, t.text) for t in final] == [("s1", "<es> Big sale tonight.")]
    assert stage.cache_hits == 1
    # The draft finished after its sentence had ended: only the final is shown.
    assert [t.kind for t in translations(events)] == ["final"]


def test_a_sentence_that_ends_differently_stops_the_draft_and_goes_first() -> None:
    words = sentence_words("Big sale tonight only.", 0.0)
    translator = SlowTranslator(1.0)
    events, stage = run_script([[partial(words[:3])], [], [], ended(words)], translator)
    assert translator.calls[0] == (["Big sale tonight"], True)  # the draft, stopped early
    assert translator.calls[1] == (["Big sale tonight only."], False)
    assert stage.cancelled == 1
    assert [(t.kind, t.text) for t in translations(events)] == [("final", "<es> Big sale tonight only.")]


def test_drafts_follow_the_sentence_while_it_is_spoken() -> None:
    words = sentence_words("Two for one on every jacket in the store", 0.0)
    translator = SlowTranslator(0.05)
    script: list[list[Event]] = [[partial(words[:n])] for n in (3, 5, 7)] + [ended(words)]
    script = [step for events in script for step in (events, [], [])]  # 300 ms apart
    events, _ = run_script(script, translator)
    drafts = [t.text for t in translations(events) if t.kind == "partial"]
    expected = ["<es> Two for one", "<es> Two for one on every", "<es> Two for one on every jacket in"]
    # (On a very busy machine a draft may be skipped for a newer one, never reordered.)
    assert drafts and drafts == [text for text in expected if text in drafts]
    assert drafts[-1] == expected[-1]
    assert translations(events)[-1].kind == "final"


def test_in_the_server_a_draft_makes_way_for_another_streams_sentence() -> None:
    from livetrans.server.pipelines import LockedTranslator

    translator = SlowTranslator(2.0)
    shared = LockedTranslator(TranslationStage(translator, ["es"]))
    words = sentence_words("Welcome back everyone", 0.0)
    draft_sentence = SentenceEvent(id="s4", start=0.0, end=1.0, text="Welcome back", lang="en")
    finished = ended(words, sid="s9")[1]
    assert isinstance(finished, SentenceEvent)

    async def scenario() -> tuple[Any, list[TranslationEvent], float]:
        draft = asyncio.create_task(asyncio.to_thread(shared.push_draft, draft_sentence))
        await asyncio.sleep(0.2)  # the draft is being decoded
        started = time.monotonic()
        final = await asyncio.to_thread(shared.push_many, [finished])
        took = time.monotonic() - started
        return await draft, final, took

    draft_result, final, took = asyncio.run(scenario())
    assert draft_result is None  # stopped, for the other stream's finished sentence
    assert [t.text for t in final] == ["<es> Welcome back everyone"]
    assert took < 3.0  # one 2 s call, not the rest of the draft first
    assert translator.calls[0] == (["Welcome back"], True)
