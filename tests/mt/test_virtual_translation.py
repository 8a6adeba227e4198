"""Translation on the virtual clock (evaluation/replay.py): the live pipeline's
translation scheduler on a timeline of its own beside recognition, with the real
tiny NLLB engine and a fixed cost per translator call."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted import sentence_words
from speech_testkit import SAMPLES

from livetrans.core.drafts import DraftTracker
from livetrans.evaluation.replay import _per_call, _translate_virtually, replay
from livetrans.mt import DecodeOptions, Translator, load_translator
from livetrans.mt.stage import TranslationStage
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.scheduling import TranslationScheduler, VirtualClock
from livetrans.sources import load_audio
from livetrans.types import CaptionEvent, Event, SentenceEvent, TranslationEvent, Word

COST = 1.0  # seconds a translator call costs on this timeline


@pytest.fixture(scope="module")
def engine(nllb_dir: Path) -> Translator:
    return load_translator(nllb_dir, quantization="float32", compute_type="float32",
                           options=DecodeOptions(max_new_tokens=8))


def caption(words: list[Word], sid: str, kind: str = "partial") -> CaptionEvent:
    return CaptionEvent(kind=kind, id=f"c-{sid}", start=words[0].start, end=words[-1].end,  # type: ignore[arg-type]
                        text="".join(w.text for w in words).strip(), lang="en", words=tuple(words), sentence_id=sid)


def sentence(words: list[Word], sid: str) -> SentenceEvent:
    return SentenceEvent(id=sid, start=words[0].start, end=words[-1].end,
                         text="".join(w.text for w in words).strip(), lang="en", words=tuple(words))


def simulate(engine: Translator, timed: list[tuple[float, Event]]) -> tuple[list[tuple[float, TranslationEvent]], TranslationStage]:
    stage = TranslationStage(engine, ["es"])
    scheduler = TranslationScheduler(stage, VirtualClock(), drafts=DraftTracker(), cost=_per_call(stage, COST))
    out = _translate_virtually(timed, scheduler)
    return [(t, e) for t, e in out if isinstance(e, TranslationEvent)], stage


def test_a_fixed_cost_per_call_needs_a_stage_that_counts_its_calls() -> None:
    class Uncounted:  # a translator that does not say how many model calls it made
        pass

    with pytest.raises(TypeError, match="TranslationStage"):
        _per_call(Uncounted(), COST)  # type: ignore[arg-type]
    assert _per_call(Uncounted(), None) is None  # type: ignore[arg-type]  # measured time: any translator


def test_a_draft_stops_when_its_sentence_ends_otherwise_and_the_final_goes_next(engine: Translator) -> None:
    words = sentence_words("Welcome back everyone to the show.", 0.0)
    timed: list[tuple[float, Event]] = [
        (1.0, caption(words[:4], "s1")),  # a draft of four words starts at 1.0, due at 2.0
        (1.5, caption(words, "s1", "final")),
        (1.5, sentence(words, "s1")),  # ...ends otherwise at 1.5: the draft stops, the final goes
    ]
    out, stage = simulate(engine, timed)
    assert [(t, e.kind, e.id) for t, e in out] == [(2.5, "final", "s1")]
    assert stage.calls == 2  # the stopped draft's call, and the final's


def test_a_draft_shows_when_done_and_a_sentence_ending_as_drafted_costs_nothing(engine: Translator) -> None:
    words = sentence_words("Buy two and get one free.", 0.0)
    timed: list[tuple[float, Event]] = [
        (1.0, caption(words, "s1")),  # the whole sentence, still partial
        (3.0, caption(words, "s1", "final")),
        (3.0, sentence(words, "s1")),
    ]
    out, stage = simulate(engine, timed)
    assert [(t, e.kind) for t, e in out] == [(2.0, "partial"), (3.0, "final")]
    assert out[0][1].text == out[1][1].text and stage.calls == 1  # the final came from the cache


def test_finished_sentences_waiting_go_in_one_call_once_the_worker_is_free(engine: Translator) -> None:
    first, second = sentence_words("Hello there.", 0.0), sentence_words("The price is low.", 2.0)
    timed: list[tuple[float, Event]] = [
        (1.0, sentence(first, "s1")),  # translated from 1.0 to 2.0...
        (1.2, sentence(second, "s2")),  # ...while this one waits: its call runs 2.0 to 3.0
    ]
    out, stage = simulate(engine, timed)
    assert [(t, e.id) for t, e in out] == [(2.0, "s1"), (3.0, "s2")]
    assert stage.calls == 2


def test_the_virtual_replay_translates_beside_recognition_the_same_way_every_time(
    base_models: SpeechModels, engine: Translator
) -> None:
    audio = load_audio(SAMPLES / "speech" / "en" / "picovoice_test_en.wav")
    config = PipelineConfig(model="base", language="en", targets=("es",))

    def run() -> list[Event]:
        return list(replay(audio, config=config, models=base_models, clock="virtual", decode_cost=0.3,
                           translator=TranslationStage(engine, ["es"]), translate_cost=0.5).events)

    events = run()
    assert [(e.seq, e.emitted_at, e.type) for e in events] == [(e.seq, e.emitted_at, e.type) for e in run()]
    sentences = {e.id: e for e in events if isinstance(e, SentenceEvent)}
    finals = [e for e in events if isinstance(e, TranslationEvent) and e.kind == "final"]
    drafts = [e for e in events if isinstance(e, TranslationEvent) and e.kind == "partial"]
    assert sorted(e.id for e in finals) == sorted(sentences) and sentences
    assert drafts, "the sentence being spoken is translated as it goes"
    for t in finals:
        assert t.seq > sentences[t.id].seq and t.emitted_at >= sentences[t.id].emitted_at
    for d in drafts:
        assert d.emitted_at < sentences[d.id].emitted_at  # no draft once its sentence has ended


# A draft's stop poll is a Python callback that CTranslate2 calls from its worker
# thread. Run this way, the process used to abort as it exited (exit code 134), in
# every one of nine runs, until the engine released its models at exit.
EXITS_CLEANLY = """
import sys
from pathlib import Path
from livetrans.evaluation.replay import replay
from livetrans.mt import DecodeOptions, load_translator
from livetrans.mt.stage import TranslationStage
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.sources import load_audio

engine = load_translator(Path(sys.argv[1]), quantization="float32", compute_type="float32",
                         options=DecodeOptions(max_new_tokens=8))
models = SpeechModels.load(PipelineConfig(model="base"), progress=False)
result = replay(load_audio(Path(sys.argv[2])), models=models, clock="virtual", decode_cost=0.3,
                config=PipelineConfig(model="base", language="en", targets=("es",)),
                translator=TranslationStage(engine, ["es"]), translate_cost=0.5)
print(sum(e.type == "translation" for e in result.events), "translations")
"""


def test_a_process_that_translated_drafts_exits_cleanly(nllb_dir: Path) -> None:
    import subprocess
    import sys

    # Converted here first, as `livetrans models pull` would: the process under test
    # only loads it (converting there too, it aborted in 1 of 3 runs, not 3 of 3).
    load_translator(nllb_dir, quantization="float32", compute_type="float32")
    clip = SAMPLES / "speech" / "en" / "picovoice_test_en.wav"
    done = subprocess.run([sys.executable, "-c", EXITS_CLEANLY, str(nllb_dir), str(clip)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("translations") and not done.stdout.startswith("0 ")
