"""OutputWriter: files appear only on commit, and nothing is left behind otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import srt
import webvtt

from livetrans.errors import LivetransError
from livetrans.outputs import OutputWriter
from livetrans.types import (
    CaptionEvent,
    Cue,
    Event,
    SentenceEvent,
    TranslationEvent,
    Word,
)

EVENTS: list[Event] = [
    CaptionEvent(
        kind="final",
        id="c1",
        start=0.0,
        end=1.2,
        text="Hola a todos.",
        lang="es",
        words=(Word(0.0, 0.5, "Hola"), Word(0.5, 1.2, " a todos.")),
        seq=1,
    ),
    SentenceEvent(id="s1", start=0.0, end=1.2, text="Hola a todos.", lang="es", seq=2),
    TranslationEvent(
        id="s1", lang="en", source_lang="es", text="Hello everyone.", start=0.0, end=1.2, seq=3
    ),
]
CUES_ES = [Cue(0.0, 1.2, ("Hola a todos.",), "es"), Cue(1.5, 3.0, ("¿Qué tal?",), "es")]
CUES_EN = [Cue(0.0, 1.2, ("Hello everyone & <friends>.",), "en")]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its content."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def write_all(writer: OutputWriter) -> None:
    """Spanish source captions, translated into English."""
    for event in EVENTS:
        writer.write_event(event)
    writer.write_source_cues(CUES_ES[:1])
    writer.write_source_cues(CUES_ES[1:])
    writer.write_cues("en", CUES_EN)


def test_commit_writes_every_file_under_its_documented_name(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path, "talk", ["srt", "vtt", "jsonl"], ["en"])
    write_all(writer)
    written = writer.commit()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["talk.en.srt", "talk.en.vtt", "talk.jsonl", "talk.srt", "talk.vtt"]
    assert sorted(p.name for p in written) == names

    es = list(srt.parse((tmp_path / "talk.srt").read_text(encoding="utf-8")))
    assert [(p.index, p.content) for p in es] == [(1, "Hola a todos."), (2, "¿Qué tal?")]
    en = webvtt.read(str(tmp_path / "talk.en.vtt")).captions
    assert [c.raw_text for c in en] == ["Hello everyone &amp; &lt;friends&gt;."]  # one language: no spans
    lines = (tmp_path / "talk.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["caption", "sentence", "translation"]
    assert json.loads(lines[0])["words"][1] == {
        "start": 0.5,
        "end": 1.2,
        "text": " a todos.",
        "probability": 1.0,
    }


def test_files_are_utf8_with_unix_newlines(tmp_path: Path) -> None:
    with OutputWriter(tmp_path, "talk", ["srt"], ["es"]) as writer:
        writer.write_cues("es", CUES_ES)
        writer.write_source_cues(CUES_ES)
    data = (tmp_path / "talk.es.srt").read_bytes() + (tmp_path / "talk.srt").read_bytes()
    assert b"\r" not in data
    assert "¿Qué tal?".encode() in data


def test_a_with_block_that_ends_normally_commits(tmp_path: Path) -> None:
    with OutputWriter(tmp_path, "talk", ["vtt", "jsonl"]) as writer:
        write_all(writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "talk.en.vtt",
        "talk.jsonl",
        "talk.vtt",
    ]


def test_the_source_and_declared_targets_get_files_even_without_cues(tmp_path: Path) -> None:
    with OutputWriter(tmp_path, "talk", ["srt", "vtt"], ["fr"]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.fr.srt", "talk.fr.vtt", "talk.srt", "talk.vtt"]
    assert (tmp_path / "talk.fr.srt").read_text() == ""
    assert (tmp_path / "talk.fr.vtt").read_text() == "WEBVTT\n\n"
    assert (tmp_path / "talk.srt").read_text() == ""


def test_abort_leaves_the_folder_exactly_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "talk.srt").write_text("an older file\n")
    (tmp_path / "notes.txt").write_text("keep me\n")
    before = snapshot(tmp_path)
    writer = OutputWriter(tmp_path, "talk", ["srt", "vtt", "jsonl"], ["en"])
    write_all(writer)
    assert snapshot(tmp_path) != before  # temporary files exist meanwhile
    assert snapshot(tmp_path)["talk.srt"] == b"an older file\n"
    writer.abort()
    assert snapshot(tmp_path) == before
    writer.abort()  # a second abort is harmless


def test_an_exception_in_the_with_block_removes_everything_and_propagates(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "today"
    before = snapshot(tmp_path)
    writer = OutputWriter(out, "talk", ["srt", "vtt", "jsonl"], ["en"])
    with pytest.raises(KeyError), writer:
        write_all(writer)
        raise KeyError("boom")
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "runs").exists()  # folders the writer made are gone too


def test_jsonl_is_on_disk_line_by_line_before_commit(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path, "talk", ["jsonl"])
    writer.write_event(EVENTS[0])
    (temp,) = [p for p in tmp_path.iterdir()]
    assert temp.name.startswith(".talk.jsonl.") and temp.name.endswith(".tmp")
    assert json.loads(temp.read_text(encoding="utf-8"))["id"] == "c1"
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_formats_not_asked_for_are_not_written(tmp_path: Path) -> None:
    with OutputWriter(tmp_path, "talk", ["srt"]) as writer:
        write_all(writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.en.srt", "talk.srt"]


def test_writing_after_commit_is_an_error(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path, "talk", ["jsonl"])
    writer.commit()
    with pytest.raises(RuntimeError, match="already committed"):
        writer.write_event(EVENTS[0])


@pytest.mark.parametrize(
    "base, formats, lang",
    [
        ("talk", ["srt", "docx"], "es"),
        ("../talk", ["srt"], "es"),
        ("talk", ["srt"], "../es"),
        ("", ["srt"], "es"),
    ],
)
def test_bad_names_and_formats_are_refused_before_anything_is_written(
    tmp_path: Path, base: str, formats: list[str], lang: str
) -> None:
    with pytest.raises(LivetransError), OutputWriter(tmp_path, base, formats, [lang]) as writer:
        writer.write_cues(lang, CUES_ES)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LivetransError, match="cannot create output folder"):
        OutputWriter(blocker / "sub", "talk", ["srt"])


def test_a_folder_that_refuses_files_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied on the temporary file: a LivetransError naming the file, nothing left."""

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", refuse)
        with pytest.raises(LivetransError, match="cannot write talk.srt .*Permission denied"):
            OutputWriter(tmp_path, "talk", ["srt"], ["es"])
    assert list(tmp_path.iterdir()) == []


def test_translations_of_several_languages_go_to_their_own_files(tmp_path: Path) -> None:
    with OutputWriter(tmp_path, "talk", ["srt"]) as writer:
        writer.write_translation_cues([CUES_ES[0], CUES_EN[0], CUES_ES[1]])
    es = list(srt.parse((tmp_path / "talk.es.srt").read_text(encoding="utf-8")))
    en = list(srt.parse((tmp_path / "talk.en.srt").read_text(encoding="utf-8")))
    assert [p.content for p in es] == ["Hola a todos.", "¿Qué tal?"]
    assert [p.content for p in en] == ["Hello everyone & <friends>."]


def test_source_captions_of_every_language_are_one_file_in_time_order(tmp_path: Path) -> None:
    """A host who switches language, and a stray utterance detected as a third one:
    one source file whose VTT cues carry their language in a <lang> span."""
    cues = [
        Cue(0.0, 1.2, ("Hola a todos.",), "es"),
        Cue(1.5, 3.0, ("And welcome", "to the show."), "en"),
        Cue(3.2, 3.9, ("Ja.",), "de"),
        Cue(4.0, 5.0, ("Seguimos <ya> & ahora.",), "es"),
    ]
    with OutputWriter(tmp_path, "talk", ["srt", "vtt"]) as writer:
        writer.write_source_cues(cues[:2])
        writer.write_source_cues(cues[2:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.srt", "talk.vtt"]
    subs = list(srt.parse((tmp_path / "talk.srt").read_text(encoding="utf-8")))
    assert [(p.index, p.content) for p in subs] == [
        (1, "Hola a todos."), (2, "And welcome\nto the show."), (3, "Ja."), (4, "Seguimos <ya> & ahora.")
    ]
    vtt = webvtt.read(str(tmp_path / "talk.vtt")).captions
    assert [c.text for c in vtt] == [  # webvtt-py reads the span as markup, not text
        "Hola a todos.", "And welcome\nto the show.", "Ja.", "Seguimos &lt;ya&gt; &amp; ahora."
    ]
    assert [c.raw_text for c in vtt] == [
        "<lang es>Hola a todos.</lang>",
        "<lang en>And welcome\nto the show.</lang>",
        "<lang de>Ja.</lang>",
        "<lang es>Seguimos &lt;ya&gt; &amp; ahora.</lang>",
    ]
    assert [(c.start, c.end) for c in vtt][:2] == [("00:00:00.000", "00:00:01.200"), ("00:00:01.500", "00:00:03.000")]
