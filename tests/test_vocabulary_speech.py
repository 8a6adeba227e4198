"""The vocabulary on real speech: Whisper base, product sentences spoken in the test
by the project's Piper voice (espeak-ng's en-us is too hard for base to hear names
in at all), control speech by espeak-ng; offline, live, and over the ingest socket."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect

from livetrans.asr.offline import transcribe_offline
from livetrans.core.vocabulary import Vocabulary, compact
from livetrans.evaluation.replay import replay
from livetrans.evaluation.vocabulary import CONTROL, EN, ZH, product_vocabulary, score_terms
from livetrans.evaluation.voices import MANDARIN_VOICE, PIPER_VOICES, Voice, espeak_available, synthesize
from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.pipelines import LivePipelineFactory

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")]
pytest.importorskip("piper")

VOICE = PIPER_VOICES[0]
CONTROL_VOICE = Voice("espeak-ng", "en-us", "en", "US English (espeak-ng)")
CONFIG = PipelineConfig(model="base", language="en")
NAMES = ("Kiehl's", "Shokz OpenRun", "Theragun Mini", "Owala FreeSip")


@pytest.fixture(scope="module")
def base_models() -> SpeechModels:
    return SpeechModels.load(CONFIG, progress=False)


def speech(*texts: str, pause: float = 1.2, voice: Voice = VOICE) -> np.ndarray:
    """``texts`` spoken with pauses between; Piper without its sampling noise, so every
    run hears the same audio (a false hit must not come and go between runs)."""
    gap = np.zeros(int(pause * 16_000), np.float32)
    parts = [gap]
    for text in texts:
        parts += [synthesize(voice, text, steady=True), gap]
    return np.concatenate(parts)


def names_in(text: str, vocabulary: Vocabulary) -> set[str]:
    return {t.term for t in vocabulary.terms if compact(t.term) in compact(text)}


SENTENCES = [s.text for s in EN if set(s.terms) & set(NAMES)]


@pytest.fixture(scope="module")
def product_speech() -> np.ndarray:
    return speech(*SENTENCES)


def offline_text(models: SpeechModels, audio: np.ndarray, vocabulary: Vocabulary | None) -> str:
    transcript = transcribe_offline(models.whisper, audio, language="en", vocabulary=vocabulary)
    return "".join(w.text for w in transcript.words)


def test_names_missed_without_the_vocabulary_are_recalled_with_it(base_models, product_speech):
    vocabulary = product_vocabulary()
    without = names_in(offline_text(base_models, product_speech, None), vocabulary)
    with_it = names_in(offline_text(base_models, product_speech, vocabulary), vocabulary)
    assert len(without) <= 1, without
    assert len(with_it) >= 3 and without <= with_it, with_it


def test_mandarin_names_missed_without_the_vocabulary_are_recalled_with_it(base_models):
    """Mandarin by espeak-ng (from pinyin): base hears it poorly, so without the
    vocabulary it writes almost no name; with it, no name may come out more often than
    it was said (on hard audio Whisper may copy the prompt's list instead)."""
    vocabulary = product_vocabulary()
    audio = speech(*[s.text for s in ZH], voice=MANDARIN_VOICE)
    texts, scores = {}, {}
    for label, given in (("without", None), ("with", vocabulary)):
        transcript = transcribe_offline(base_models.whisper, audio, language="zh", vocabulary=given)
        texts[label] = "".join(w.text for w in transcript.words)
        scores[label] = score_terms(ZH, texts[label], vocabulary)
    assert scores["without"].recalled <= 1, texts["without"]
    assert scores["with"].recalled >= 3, texts["with"]
    assert scores["with"].inserted == 0, texts["with"]  # no name written more often than said


def test_the_speech_models_everyday_words_are_its_whole_word_tokens(base_models):
    everyday = base_models.whisper.everyday_words
    assert {"kills", "road", "precio", "aqui"} <= everyday  # English and Spanish, accents folded
    assert not {"kiehls", "baseus", "dyson"} & everyday  # names it writes in pieces


NEAR_MISSES = ("Anker Nano Power Bank", "Shokz OpenRun", "Bose QuietComfort", "Insta360 X4")


def test_a_near_miss_in_real_output_is_respelt(base_models):
    """Without the prompt, base writes names as it hears them ("anchor nano power bank",
    "shocks open run"); respelling alone brings some back as the list writes them, and
    changes no other word."""
    vocabulary = product_vocabulary()
    audio = speech(*[s.text for s in EN if set(s.terms) & set(NEAR_MISSES)])
    transcript = transcribe_offline(base_models.whisper, audio, language="en")
    words = list(transcript.words)
    respelt = vocabulary.respell(words, "en")
    before, after = "".join(w.text for w in words), "".join(w.text for w in respelt)
    assert names_in(after, vocabulary) - names_in(before, vocabulary), (before, after)
    kept = [w.text for w in respelt if not names_in(w.text, vocabulary)]
    assert all(text in before for text in kept)


SOUND_ALIKES = ("This soap kills germs", "One plus one is two", "The keel of the boat")


def _control(lines: list[str], models: SpeechModels, tmp_path: Path) -> tuple[str, str]:
    vocabulary = product_vocabulary()
    audio = np.concatenate([speech(*lines[:2], voice=CONTROL_VOICE), speech(*lines[2:])])
    glossary = tmp_path / "show.json"
    glossary.write_text(json.dumps([t.term for t in vocabulary.terms], ensure_ascii=False), "utf-8")
    live = replay(audio, config=replace(CONFIG, glossary=glossary), models=models, clock="virtual",
                  decode_cost=0.3)
    return offline_text(models, audio, vocabulary), live.text


def test_control_speech_gets_no_name_offline_or_live(base_models, tmp_path: Path):
    lines = [s.text for s in CONTROL if s.lang == "en" and not s.text.startswith(SOUND_ALIKES)]
    offline, live = _control(lines, base_models, tmp_path)
    vocabulary = product_vocabulary()
    assert len(live.split()) > 20  # it was heard
    assert names_in(offline, vocabulary) == set(), offline
    assert names_in(live, vocabulary) == set(), live


@pytest.fixture(scope="module")
def sound_alikes(base_models, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Words that sound like a short name ("kills", "keel" for Kiehl's), offline and live."""
    lines = [s.text for s in CONTROL if s.lang == "en" and s.text.startswith(SOUND_ALIKES)]
    return _control(lines, base_models, tmp_path_factory.mktemp("sound-alikes"))


def test_sound_alikes_of_a_short_name_are_not_written_as_it_offline(sound_alikes: tuple[str, str]):
    offline, _ = sound_alikes
    assert names_in(offline, product_vocabulary()) == set(), offline


def test_sound_alikes_of_a_short_name_are_not_written_as_it_live(sound_alikes: tuple[str, str]):
    _, live = sound_alikes
    assert names_in(live, product_vocabulary()) == set(), live


def test_the_live_recogniser_recalls_names_with_the_vocabulary(base_models, product_speech, tmp_path: Path):
    vocabulary = product_vocabulary()
    glossary = tmp_path / "show.json"
    glossary.write_text(json.dumps([t.term for t in vocabulary.terms], ensure_ascii=False), "utf-8")
    live = replay(product_speech, config=replace(CONFIG, glossary=glossary), models=base_models,
                  clock="virtual", decode_cost=0.3)
    assert len(names_in(live.text, vocabulary) & set(NAMES)) >= 3, live.text


def test_a_vocabulary_sent_mid_stream_takes_effect(base_models):
    """Over the ingest socket: the same sentence twice; the vocabulary arrives between
    them, and only the second is written with the names. Bad vocabulary in between
    gets an error and the stream goes on."""
    sentence = next(s.text for s in EN if "Theragun Mini" in s.terms)
    first, second = speech(sentence), speech(sentence)  # the same audio
    pcm = lambda a: (np.clip(a, -1, 1) * 32767).astype("<i2").tobytes()  # noqa: E731
    terms = ["Theragun Mini", "Kiehl's"]

    first_done = asyncio.Event()

    async def viewer_messages(ws) -> list[dict]:
        out = []
        async for message in ws:
            out.append(json.loads(message))
            if out[-1]["type"] == "sentence":
                first_done.set()
        return out

    async def scenario() -> tuple[list[dict], list[dict]]:
        factory = LivePipelineFactory(CONFIG, base_models)
        config = ServerConfig(port=0, token="secret", ping_interval=None)
        async with CaptionServer(config, pipeline_factory=factory) as server:
            got: list[dict] = []
            async with connect(f"{server.ws_url}/v1/streams/show/ingest?token=secret") as encoder:
                await encoder.send(json.dumps({"type": "start", "sample_rate": 16000, "language": "en"}))
                got.append(json.loads(await encoder.recv()))
                viewer_ws = await connect(f"{server.ws_url}/v1/streams/show/captions")
                assert json.loads(await viewer_ws.recv())["type"] == "hello"
                viewer = asyncio.create_task(viewer_messages(viewer_ws))
                data = pcm(first)
                for i in range(0, len(data), 6400):
                    await encoder.send(data[i : i + 6400])
                await asyncio.wait_for(first_done.wait(), 120)  # the first utterance is over
                await encoder.send(json.dumps({"type": "vocabulary", "terms": ["x" * 500]}))
                await encoder.send(json.dumps({"type": "vocabulary", "terms": terms}))
                data = pcm(second)
                for i in range(0, len(data), 6400):
                    await encoder.send(data[i : i + 6400])
                await encoder.send(json.dumps({"type": "end"}))
                async for message in encoder:
                    got.append(json.loads(message))
            return got, await viewer

    got, seen = asyncio.run(asyncio.wait_for(scenario(), 240))
    errors = [m for m in got if m["type"] == "error"]
    assert errors and errors[0]["code"] == "bad_message" and "at most 100" in errors[0]["message"]
    assert {"type": "vocabulary", "stream": "show", "terms": 2} in got
    assert got[-1]["type"] == "end"
    split = len(first) / 16_000
    finals = [m for m in seen if m["type"] == "caption" and m["kind"] == "final"]
    before = " ".join(m["text"] for m in finals if m["end"] <= split)
    after = " ".join(m["text"] for m in finals if m["start"] >= split)
    assert before and "Theragun Mini" not in before, before
    assert "Theragun Mini" in after, after
