"""The livetrans command as a user runs it: real files, real models, real exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import srt
import webvtt
from speech_testkit import SAMPLES

from livetrans.evaluation.metrics import error_rate

FLEURS_EN = SAMPLES / "speech" / "en" / "fleurs-en-000.ogg"
FLEURS_EN_TEXT = "However, due to the slow communication channels, styles in the west could lag behind by 25 to 30 year."


def livetrans(
    *args: str, timeout: float = 300, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "livetrans.cli", *args],
        capture_output=True,
        text=stdin is None,
        input=stdin,
        timeout=timeout,
        env=env,
    )


def test_transcribe_writes_subtitles_that_parse_and_events(tmp_path):
    out = tmp_path / "out"
    result = livetrans("transcribe", str(FLEURS_EN), "-o", str(out), "--format", "srt,vtt,jsonl")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fleurs-en-000.jsonl", "fleurs-en-000.srt", "fleurs-en-000.vtt"]
    cues = list(srt.parse((out / "fleurs-en-000.srt").read_text(encoding="utf-8")))
    vtt = webvtt.read(str(out / "fleurs-en-000.vtt"))
    assert cues and len(vtt.captions) == len(cues)
    assert all(c.raw_text.startswith("<lang en>") for c in vtt.captions)
    text = " ".join(c.content.replace("\n", " ") for c in cues)
    assert error_rate(FLEURS_EN_TEXT, text, "en") <= 0.15
    for cue in cues:
        assert all(len(line) <= 42 for line in cue.content.split("\n"))
        assert len(cue.content.split("\n")) <= 2
    events = [json.loads(line) for line in (out / "fleurs-en-000.jsonl").read_text().splitlines()]
    finals = [e for e in events if e["type"] == "caption"]
    assert finals and all(e["kind"] == "final" for e in finals)
    for e in finals:
        assert {"type", "kind", "seq", "id", "start", "end", "text", "lang", "emitted_at", "words"} <= e.keys()
        assert isinstance(e["start"], float) and e["words"][0].keys() >= {"start", "end", "text"}
    assert any(e["type"] == "sentence" for e in events)


def test_live_prints_partials_and_finals_as_jsonl(tmp_path):
    clip = SAMPLES / "speech" / "en" / "speechbrain_example1_birch_canoe.wav"
    result = livetrans("transcribe", str(clip), "--live", "--print", "jsonl", "-o", str(tmp_path), "--language", "en")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {e.get("kind") for e in events if e["type"] == "caption"}
    assert kinds == {"partial", "final"}
    emitted = [e["emitted_at"] for e in events]
    assert emitted == sorted(emitted)
    finals = " ".join(e["text"] for e in events if e.get("kind") == "final")
    assert error_rate("The birch canoe slid on the smooth planks", finals, "en") <= 0.2
    assert (tmp_path / "speechbrain_example1_birch_canoe.srt").is_file()


def _write_wav(path: Path, frames: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("corrupt", "cannot decode"),
        ("text", "cannot decode"),
        ("empty", "holds no audio"),
        ("url", "cannot open stream"),
    ],
)
@pytest.mark.parametrize("live", [False, True])
def test_bad_input_is_one_clear_line_and_leaves_nothing(tmp_path, case, message, live):
    src = tmp_path / "input"
    src.mkdir()
    if case == "missing":
        spec = str(src / "nope.wav")
    elif case == "corrupt":
        spec = str(src / "corrupt.wav")
        data = bytearray((SAMPLES / "speech" / "en" / "picovoice_test_en.wav").read_bytes()[:4000])
        data[12:60] = os.urandom(48)
        Path(spec).write_bytes(bytes(data))
    elif case == "text":
        spec = str(src / "notes.wav")
        Path(spec).write_text("this is not audio\n" * 50)
    elif case == "empty":
        spec = str(src / "empty.wav")
        _write_wav(Path(spec), b"")
    else:
        spec = "http://127.0.0.1:9/live/stream.m3u8"
    out = tmp_path / "out"
    out.mkdir()
    args = ["transcribe", spec, "-o", str(out), "--format", "srt,vtt,jsonl"] + (["--live"] if live else [])
    result = livetrans(*args, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livetrans: error: "), result.stderr
    assert message in lines[0]
    assert list(out.iterdir()) == []


def test_models_list_shows_the_installed_models():
    result = livetrans("models", "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "installed" in rows["base"] and "installed" in rows["tiny.en"]
    assert rows["base"].split()[1] == "speech"
    assert rows["nllb-200-distilled-600M"].split()[1] == "translation"  # one table, both kinds


@pytest.mark.parametrize("name", ["small", "opus-mt-en-es"])
def test_models_pull_without_network_is_one_clear_line(tmp_path, name):
    """The real hub download, pointed at a closed local port: exit 1, what to do instead."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HUB_OFFLINE": "0",  # reach for the hub, and find nothing there
        "LIVETRANS_CACHE_DIR": str(tmp_path),
    }
    result = livetrans("models", "pull", name, timeout=60, env=env)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"livetrans: error: no network: cannot download model {name!r}")
    assert "because the hub is unreachable" in lines[-1]
    assert f"put the model at {tmp_path}" in lines[-1]
    assert lines[-1].endswith("or run on a machine with network")


@pytest.mark.parametrize(
    ("device", "beam", "expected"), [("cpu", None, 3), ("cuda", None, 3), ("cpu", 1, 1), ("cuda", 5, 5)]
)
def test_the_streaming_beam_is_three_unless_asked_otherwise(device, beam, expected):
    from livetrans.cli import build_parser
    from livetrans.options import pipeline_config

    args = ["transcribe", "x.wav", "--live", "--device", device]
    if beam is not None:
        args += ["--beam", str(beam)]
    options = pipeline_config(build_parser().parse_args(args)).recognizer_options()
    assert options.beam == expected


def test_a_beam_below_one_is_refused_before_any_work(tmp_path):
    result = livetrans("transcribe", str(FLEURS_EN), "-o", str(tmp_path), "--live", "--beam", "0")
    assert result.returncode == 2
    assert "--beam: expected a whole number of at least 1, got '0'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_fixed_decode_cost_needs_the_virtual_clock(tmp_path):
    report = tmp_path / "bench.json"
    result = livetrans("bench", "asr", "--decode-cost", "0.3", "--out", str(report))
    assert result.returncode == 2
    assert "--decode-cost is for the virtual clock" in result.stderr
    assert not report.exists()


def test_an_unknown_language_is_refused_before_any_audio(tmp_path):
    result = livetrans("transcribe", str(FLEURS_EN), "--language", "xx", "-o", str(tmp_path))
    assert result.returncode == 1
    assert "cannot recognise language 'xx'" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("script, opencc_config", [("simplified", "t2s"), ("traditional", "s2t")])
def test_mandarin_captions_come_in_the_script_asked_for(tmp_path, script, opencc_config):
    import opencc

    clip = SAMPLES / "speech" / "zh" / "aishell_BAC009S0724W0121.wav"
    result = livetrans("transcribe", str(clip), "-o", str(tmp_path), "--format", "srt", "--zh-script", script)
    assert result.returncode == 0, result.stderr
    text = "".join(c.content for c in srt.parse((tmp_path / f"{clip.stem}.srt").read_text("utf-8")))
    assert text and opencc.OpenCC(opencc_config).convert(text) == text


def test_whisper_translate_writes_english_source_captions_labelled_english(tmp_path):
    """--task translate: Whisper writes English whatever it heard, so the source file
    is the one caption file (no file named after the detected language), its VTT cues
    say en, and the events keep the language that was spoken."""
    clip = SAMPLES / "speech" / "es" / "fleurs-es-000.ogg"
    result = livetrans("transcribe", str(clip), "-o", str(tmp_path), "--task", "translate", "--format", "srt,vtt,jsonl")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{clip.stem}.{ext}" for ext in ("jsonl", "srt", "vtt")]
    vtt = webvtt.read(str(tmp_path / f"{clip.stem}.vtt")).captions
    assert vtt and all(c.raw_text.startswith("<lang en>") for c in vtt)
    events = [json.loads(line) for line in (tmp_path / f"{clip.stem}.jsonl").read_text().splitlines()]
    assert {e["lang"] for e in events if e["type"] == "sentence"} == {"es"}
