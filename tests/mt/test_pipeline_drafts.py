"""The translator's scheduling: drafts while a sentence is spoken, finished sentences
first (a draft in progress is stopped for them), a draft that turns out to be the
whole sentence serving as its final translation, a backlog in one call, and a
failing model call that costs only its sentence's translation, never the stream.

The translator is the real CTranslate2 engine on the tiny NLLB checkpoint, wrapped
to record its calls and to raise for chosen sentences. The scheduler runs on a
virtual clock, called step by step as the pipeline's shell calls it; the shell
itself runs with a script of recogniser events."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripted import sentence_words

from livetrans.core.drafts import DraftTracker
from livetrans.core.recognizer_options import RecognizerStats
from livetrans.mt import DecodeOptions, Translator, load_translator
from livetrans.mt.stage import TranslationStage
from livetrans.pipeline import LivePipeline, PipelineConfig
from livetrans.scheduling import TranslationScheduler, VirtualClock
from livetrans.types import (
    AudioChunk,
    CaptionEvent,
    ErrorEvent,
    Event,
    SentenceEvent,
    TranslationEvent,
    Word,
    is_durable,
)


@pytest.fixture(scope="module")
def engine(nllb_dir: Path) -> Translator:
    return load_translator(nllb_dir, quantization="float32", compute_type="float32",
                           options=DecodeOptions(max_new_tokens=8))


class Observed:
    """A real engine that records each call (its texts, and whether ``cancel`` was
    true when it returned) and raises for texts containing one of ``fail_on``."""

    def __init__(self, inner: Translator, fail_on: Sequence[str] = (), fails: Callable[[str], bool] | None = None) -> None:
        self.inner = inner
        self.info = inner.info
        self.fail_on = tuple(fail_on)
        self.fails = fails  # or this says which texts fail
        self.calls: list[tuple[list[str], bool]] = []
        self.before: Callable[[Callable[[], bool] | None], None] | None = None  # runs before each call

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        self.inner.check_pairs(source, targets)

    def translate_batch(
        self, texts: Sequence[str], source: str, targets: Sequence[str], cancel: Callable[[], bool] | None = None
    ) -> dict[str, list[str]]:
        if self.before is not None:
            self.before(cancel)
        bad = [t for t in texts if any(f in t for f in self.fail_on) or (self.fails is not None and self.fails(t))]
        if bad:
            raise RuntimeError(f"the model failed on {bad[0]!r}")
        out = self.inner.translate_batch(texts, source, targets, cancel)
        self.calls.append((list(texts), cancel is not None and cancel()))
        return out


def partial(words: list[Word], sid: str = "s1", cid: str = "c1") -> CaptionEvent:
    return CaptionEvent(kind="partial", id=cid, start=words[0].start, end=words[-1].end,
                        text="".join(w.text for w in words).strip(), lang="en", words=tuple(words), sentence_id=sid)


def ended(words: list[Word], sid: str = "s1", cid: str = "c1") -> list[Event]:
    text = "".join(w.text for w in words).strip()
    return [
        CaptionEvent(kind="final", id=cid, start=words[0].start, end=words[-1].end, text=text, lang="en",
                     words=tuple(words), sentence_id=sid),
        SentenceEvent(id=sid, start=words[0].start, end=words[-1].end, text=text, lang="en", words=tuple(words),
                      caption_ids=(cid,)),
    ]


def scheduler(translator: Observed, *, drafts: bool = True, cost: float = 0.5) -> tuple[TranslationScheduler, TranslationStage, VirtualClock]:
    stage = TranslationStage(translator, ["es"])
    clock = VirtualClock()
    tracker = DraftTracker() if drafts else None
    return TranslationScheduler(stage, clock, drafts=tracker, cost=lambda _: cost), stage, clock


def notice(s: TranslationScheduler, events: Sequence[Event]) -> None:
    for event in events:
        s.notice(event)


def step(s: TranslationScheduler) -> list[Event]:
    """The shell's turn: take the next job, run it, publish what it gives."""
    job = s.next_job()
    assert job is not None
    return s.complete(s.run(job))


def test_a_draft_whose_sentence_ends_as_drafted_is_its_final_translation(engine: Translator) -> None:
    translator = Observed(engine)
    s, stage, clock = scheduler(translator)
    words = sentence_words("Big sale tonight.", 0.0)
    notice(s, [partial(words)])
    draft = s.next_job()
    assert draft is not None and draft.draft is not None and draft.draft.text == "Big sale tonight."
    notice(s, ended(words))  # the sentence ends, as drafted, while the draft is translated
    result = s.run(draft)
    assert not result.cancelled and clock.now() == 0.5  # the call's cost is on the clock
    assert s.complete(result) == []  # its sentence has ended: only the final is shown
    final = step(s)
    assert [(e.type, e.id, e.kind) for e in final if isinstance(e, TranslationEvent)] == [("translation", "s1", "final")]
    drafted = result.events[0]
    assert isinstance(drafted, TranslationEvent) and final[0] == drafted.__class__(
        id="s1", lang="es", source_lang="en", text=drafted.text, start=0.0, end=words[-1].end, kind="final")
    assert [texts for texts, _ in translator.calls] == [["Big sale tonight."]]  # the final came from the cache
    assert stage.cache_hits == 1
    assert s.next_job() is None and s.done is False
    s.end()
    assert s.done


def test_a_sentence_that_ends_differently_stops_the_draft_and_goes_first(engine: Translator) -> None:
    translator = Observed(engine)
    s, stage, _ = scheduler(translator)
    words = sentence_words("Big sale tonight only.", 0.0)
    notice(s, [partial(words[:3])])
    draft = s.next_job()
    assert draft is not None and draft.draft is not None
    notice(s, ended(words))  # a finished sentence now waits: the draft's cancel is true
    result = s.run(draft)
    assert result.cancelled and stage.cancelled == 1
    assert s.complete(result) == []
    job = s.next_job()
    assert job is not None and [x.text for x in job.sentences] == ["Big sale tonight only."]
    events = s.complete(s.run(job))
    assert [(e.id, e.kind) for e in events if isinstance(e, TranslationEvent)] == [("s1", "final")]
    assert translator.calls == [(["Big sale tonight"], True), (["Big sale tonight only."], False)]
    assert s.next_job() is None  # the stopped draft's sentence has ended: nothing to redo


def test_drafts_follow_the_sentence_while_it_is_spoken(engine: Translator) -> None:
    s, _, _ = scheduler(Observed(engine))
    words = sentence_words("Two for one on every jacket in the store", 0.0)
    shown = []
    for n in (2, 3, 5, 7):
        notice(s, [partial(words[:n])])
        job = s.next_job()
        if n < 3:
            assert job is None  # too short to be worth a draft
            continue
        assert job is not None and job.draft is not None
        shown.append(job.draft.text)
        assert [e.kind for e in s.complete(s.run(job)) if isinstance(e, TranslationEvent)] == ["partial"]
        assert s.next_job() is None  # nothing new until the sentence grows by a word
    assert shown == ["Two for one", "Two for one on every", "Two for one on every jacket in"]
    notice(s, ended(words))
    assert [e.kind for e in step(s) if isinstance(e, TranslationEvent)] == ["final"]


def test_finished_sentences_waiting_go_in_one_call(engine: Translator) -> None:
    translator = Observed(engine)
    s, _, _ = scheduler(translator, drafts=False)
    for i, text in enumerate(["Welcome back everyone.", "The price is low.", "Buy now."]):
        notice(s, ended(sentence_words(text, 3.0 * i), sid=f"s{i + 1}", cid=f"c{i + 1}"))
    events = step(s)
    assert len(translator.calls) == 1 and len(translator.calls[0][0]) == 3
    assert [(e.id, e.lang) for e in events] == [("s1", "es"), ("s2", "es"), ("s3", "es")]


def test_a_failing_translation_costs_only_its_sentence(engine: Translator) -> None:
    translator = Observed(engine, fail_on=["price"])
    s, _, _ = scheduler(translator, drafts=False)
    for i, text in enumerate(["Welcome back everyone.", "The price is low.", "Buy now."]):
        notice(s, ended(sentence_words(text, 3.0 * i), sid=f"s{i + 1}", cid=f"c{i + 1}"))
    events = step(s)  # the batch fails; each sentence is tried on its own
    assert [(e.type, e.id) for e in events] == [("translation", "s1"), ("error", "s2"), ("translation", "s3")]
    error = events[1]
    assert isinstance(error, ErrorEvent) and error.stage == "translation" and "price" in error.message
    assert not is_durable(error) and s.errors == 1
    notice(s, ended(sentence_words("The price again.", 9.0), sid="s4", cid="c4"))
    assert [(e.type, e.id) for e in step(s)] == [("error", "s4")]  # alone, it fails alone
    notice(s, ended(sentence_words("Thank you.", 12.0), sid="s5", cid="c5"))
    assert [(e.type, e.id) for e in step(s)] == [("translation", "s5")]  # and the stream goes on


def test_a_failing_draft_shows_nothing_and_the_final_is_still_translated(engine: Translator) -> None:
    translator = Observed(engine, fails=lambda text: text == "Big sale tonight only,")  # the draft only
    s, _, _ = scheduler(translator)
    words = sentence_words("Big sale tonight only, friends.", 0.0)
    notice(s, [partial(words[:4])])
    assert step(s) == []  # the draft's call raised: no draft, no error for a preview
    notice(s, ended(words))
    assert [(e.type, e.kind) for e in step(s) if isinstance(e, TranslationEvent)] == [("translation", "final")]


def scripted_pipeline(script: list[Any], translator: Observed, drafts: bool = True) -> LivePipeline:
    """The live pipeline over a script of recogniser events, one list a push (the
    audio comes as fast as it is taken, so later lists may come at the flush)."""

    class Recognizer:
        stats = RecognizerStats()  # as a DecodingRecognizer's: the decodes it made (none)

        def push(self, chunk: AudioChunk) -> list[Event]:
            step = script.pop(0) if script else []
            return step() if callable(step) else step  # a step may act, then give events

        def flush(self) -> list[Event]:
            return [event for events in script for event in (events() if callable(events) else events)]

        def set_vocabulary(self, vocabulary: Any) -> None:
            pass

    class Models:
        def recognizer(self, options: Any, vocabulary: Any = None) -> Recognizer:
            return Recognizer()

    config = PipelineConfig(targets=("es",), translation_drafts=drafts)
    stage = TranslationStage(translator, ["es"])
    return LivePipeline(config, models=Models(), translator=stage)  # type: ignore[arg-type]


async def silence(chunks: int) -> AsyncIterator[AudioChunk]:
    for i in range(chunks):
        yield AudioChunk(np.zeros(1600, np.float32), i * 0.1)


def run_script(script: list[list[Event]], translator: Observed, drafts: bool = True) -> list[Event]:
    pipeline = scripted_pipeline(script, translator, drafts)

    async def collect() -> list[Event]:
        return [event async for event in pipeline.run(silence(len(script)))]

    return asyncio.run(asyncio.wait_for(collect(), 120))


def test_a_stream_whose_translator_raises_keeps_its_captions(engine: Translator) -> None:
    texts = ["Welcome back everyone.", "The price is low.", "Buy now."]
    script = [ended(sentence_words(t, 3.0 * i), sid=f"s{i + 1}", cid=f"c{i + 1}") for i, t in enumerate(texts)]
    events = run_script(script, Observed(engine, fail_on=["price"]))
    assert [e.text for e in events if isinstance(e, SentenceEvent)] == texts
    assert sorted(e.id for e in events if isinstance(e, TranslationEvent)) == ["s1", "s3"]
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert [(e.stage, e.id) for e in errors] == [("translation", "s2")]
    durable = [e.seq for e in events if is_durable(e)]
    assert durable == list(range(1, len(durable) + 1))  # no seq for the error, no gap


def test_a_stream_whose_every_translation_fails_still_ends_normally(engine: Translator) -> None:
    words = sentence_words("Big sale tonight only friends", 0.0)
    script = [[partial(words[:3])], [partial(words[:4])], ended(words)]
    events = run_script(script, Observed(engine, fail_on=["Big"]))
    assert [e.type for e in events if not isinstance(e, CaptionEvent)] == ["sentence", "error"]


@pytest.mark.parametrize("other_stage", [False, True], ids=["same targets", "other targets, same model"])
def test_in_the_server_a_draft_makes_way_for_another_streams_sentence(engine: Translator, other_stage: bool) -> None:
    from livetrans.server.pipelines import ModelTurns, SharedTranslator

    translator = Observed(engine)
    drafting = threading.Event()
    stopped = threading.Event()

    def hold_draft(cancel: Callable[[], bool] | None) -> None:
        """The draft's call holds until its cancel turns true (a finished sentence waits)."""
        if cancel is not None and not drafting.is_set():
            drafting.set()
            stopped.wait(60)

    translator.before = hold_draft
    turns = ModelTurns()
    shared = SharedTranslator(TranslationStage(translator, ["es"]), turns)
    # The other stream's stage: the same one, or one into other targets on the same model.
    other = SharedTranslator(TranslationStage(translator, ["fr"]), turns) if other_stage else shared
    draft_sentence = SentenceEvent(id="s4", start=0.0, end=1.0, text="Welcome back", lang="en")
    finished = ended(sentence_words("Welcome back everyone", 0.0), sid="s9")[1]
    assert isinstance(finished, SentenceEvent)

    async def scenario() -> tuple[Any, list[TranslationEvent]]:
        draft = asyncio.create_task(asyncio.to_thread(shared.push_draft, draft_sentence))
        await asyncio.to_thread(drafting.wait, 60)
        final_call = asyncio.create_task(asyncio.to_thread(other.push_many, [finished]))
        # The other stream's sentence now waits for the stage: the draft's cancel says so.
        while not shared.sentences_waiting:
            await asyncio.sleep(0)
        stopped.set()
        return await draft, await final_call

    draft_result, final = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert draft_result is None  # stopped, for the other stream's finished sentence
    assert [(t.id, t.kind, t.lang) for t in final] == [("s9", "final", "fr" if other_stage else "es")]
    assert translator.calls == [(["Welcome back"], True), (["Welcome back everyone"], False)]


def test_in_the_server_every_target_set_shares_one_translation_model(nllb_dir: Path) -> None:
    from livetrans.server.pipelines import LivePipelineFactory

    config = PipelineConfig(mt_model=str(nllb_dir), language="en", targets=("es",))
    factory = LivePipelineFactory(config, models=None)  # type: ignore[arg-type]  # no stream is started
    first, second = factory.translator("en", ("es",)), factory.translator("en", ("fr", "de"))
    assert first is factory.translator("en", ("es",)) and first is not second
    assert first.stage.translator is second.stage.translator  # type: ignore[union-attr]  # one model loaded
    events = second.push(SentenceEvent(id="s1", start=0.0, end=1.0, text="Hello there", lang="en"))  # type: ignore[union-attr]
    assert [e.lang for e in events] == ["fr", "de"]


def held_first_call(translator: Observed) -> tuple[threading.Event, threading.Event]:
    """The translator's first call holds until ``release`` is set; ``holding`` says it started."""
    holding, release = threading.Event(), threading.Event()

    def hold(cancel: Callable[[], bool] | None) -> None:
        if not holding.is_set():
            holding.set()
            release.wait(60)

    translator.before = hold
    return holding, release


def three_streams(shared: Any, holding: threading.Event, release: threading.Event,
                  sentences: list[SentenceEvent]) -> list[Any]:
    """Stream 1's sentence holds the stage; streams 2 and 3 finish one each meanwhile."""

    async def scenario() -> list[Any]:
        first = asyncio.create_task(asyncio.to_thread(shared.push_many, [sentences[0]]))
        await asyncio.to_thread(holding.wait, 60)
        others = [asyncio.create_task(asyncio.to_thread(shared.push_many, [s])) for s in sentences[1:]]
        while shared.sentences_waiting < len(others):
            await asyncio.sleep(0.01)
        release.set()
        return list(await asyncio.gather(first, *others, return_exceptions=True))

    return asyncio.run(asyncio.wait_for(scenario(), 120))


# Three streams' first sentences: each stream numbers its own, so all are "s1".
STREAM_SENTENCES = [
    SentenceEvent(id="s1", start=0.0, end=1.0, text="Hello there", lang="en"),
    SentenceEvent(id="s1", start=5.0, end=6.0, text="Welcome back everyone", lang="en"),
    SentenceEvent(id="s1", start=9.0, end=10.0, text="The price is low", lang="en"),
]


def test_in_the_server_the_sentences_of_streams_waiting_share_one_call(engine: Translator, tmp_path: Path) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig
    from livetrans.server.pipelines import ModelTurns, SharedTranslator

    translator = Observed(engine)
    holding, release = held_first_call(translator)
    turns = ModelTurns()
    shared = SharedTranslator(TranslationStage(translator, ["es", "fr"]), turns)
    first, second, third = three_streams(shared, holding, release, STREAM_SENTENCES)
    assert translator.calls[0] == (["Hello there"], False)
    assert len(translator.calls) == 2 and sorted(translator.calls[1][0]) == ["The price is low", "Welcome back everyone"]
    # Each stream gets its own sentence's translations, though the ids are the same.
    for result, sentence in zip((first, second, third), STREAM_SENTENCES):
        assert [(e.id, e.lang, e.start) for e in result] == [("s1", "es", sentence.start), ("s1", "fr", sentence.start)]
    assert turns.sizes == {1: 1, 2: 1}  # streams per call of finished sentences

    class Factory:  # what /metrics reads of the server's pipeline factory
        translation_turns = turns

    async def metrics() -> bytes:
        config = ServerConfig(port=0, token="secret", journal_dir=tmp_path, ping_interval=None)
        async with CaptionServer(config, pipeline_factory=Factory()) as server:  # type: ignore[arg-type]
            return server.metrics.render()

    rendered = asyncio.run(metrics())
    assert b'livetrans_translation_batch_streams_bucket{le="1"} 1.0' in rendered, rendered.decode()
    assert b"livetrans_translation_batch_streams_count 2.0" in rendered
    assert b"livetrans_translation_batch_streams_sum 3.0" in rendered


def test_in_the_server_one_streams_failing_sentence_costs_the_others_nothing(engine: Translator) -> None:
    from livetrans.server.pipelines import SharedTranslator

    translator = Observed(engine, fail_on=["Welcome"])
    holding, release = held_first_call(translator)
    shared = SharedTranslator(TranslationStage(translator, ["es"]))
    first, second, third = three_streams(shared, holding, release, STREAM_SENTENCES)
    assert isinstance(second, RuntimeError) and "Welcome" in str(second)
    assert [(e.id, e.start) for e in first] == [("s1", 0.0)]
    assert [(e.id, e.start) for e in third] == [("s1", 9.0)]  # served again on its own
    assert [texts for texts, _ in translator.calls] == [["Hello there"], ["The price is low"]]


def test_the_server_counts_a_failed_translation_and_its_stream_goes_on(engine: Translator, tmp_path: Path) -> None:
    from livetrans.server.app import CaptionServer, ServerConfig

    texts = ["Welcome back everyone.", "The price is low.", "Buy now."]
    script = [ended(sentence_words(t, 3.0 * i), sid=f"s{i + 1}", cid=f"c{i + 1}") for i, t in enumerate(texts)]
    published: list[Event] = []

    async def scenario() -> tuple[float, int]:
        config = ServerConfig(port=0, token="secret", journal_dir=tmp_path / "journal", ping_interval=None,
                              targets=("es",))
        def factory(source, targets):
            return scripted_pipeline(script, Observed(engine, fail_on=["price"]))
        async with CaptionServer(config, pipeline_factory=factory) as server:
            last_seq = await server.run_stream("show", silence(3), on_event=published.append)
            return server.metrics.value("livetrans_pipeline_errors_total", stream="show", stage="translation"), last_seq

    errors, last_seq = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert errors == 1
    assert [(e.type, e.id) for e in published if isinstance(e, (ErrorEvent, TranslationEvent))] == [
        ("translation", "s1"), ("error", "s2"), ("translation", "s3")
    ]
    assert last_seq == sum(is_durable(e) for e in published)  # every caption, sentence and translation out


def test_a_vocabulary_replaced_live_reaches_the_streams_next_translations(engine: Translator) -> None:
    """A host's new product list: the stream's next sentences keep its terms in
    translation, as recognition takes it at the next utterance."""
    from livetrans.core.vocabulary import vocabulary_from_json

    vocabulary = vocabulary_from_json('{"terms": [{"term": "Kiehl\'s", "translations": {"es": "Kiehl-ES"}}]}')
    translator = Observed(engine)
    texts = ["Kiehl's cream is back.", "Kiehl's cream is here."]
    first, second = (ended(sentence_words(t, 3.0 * i), sid=f"s{i + 1}", cid=f"c{i + 1}") for i, t in enumerate(texts))
    pipeline: LivePipeline

    def replace_vocabulary() -> list[Event]:  # once the first sentence is translated
        for _ in range(600):
            if translator.calls:
                break
            threading.Event().wait(0.1)
        pipeline.set_vocabulary(vocabulary)
        return []

    script: list[Any] = [first, replace_vocabulary, second]
    pipeline = scripted_pipeline(script, translator, drafts=False)

    async def collect() -> list[Event]:
        return [event async for event in pipeline.run(silence(len(script)))]

    events = asyncio.run(asyncio.wait_for(collect(), 120))
    sent = [text for texts_, _ in translator.calls for text in texts_]
    assert sent[0] == "Kiehl's cream is back."  # the list it started with: none
    assert sent[1].startswith("[1]")  # the term is kept out of the model's hands
    out = {e.id: e.text for e in events if isinstance(e, TranslationEvent)}
    assert "Kiehl-ES" in out["s2"] and "Kiehl-ES" not in out["s1"], out
