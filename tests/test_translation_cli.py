"""Translation in the product, end to end: real speech model, a tiny NLLB checkpoint
the test builds (real architecture and tokenizer, random weights), the real CLI.

Random weights translate into gibberish, so these tests check the plumbing a user
relies on: one subtitle file per language, translation events tied to their source
sentence, no call for a target in the source language, the same line rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import srt
from speech_testkit import SAMPLES

FLORES = SAMPLES / "mt" / "testsets" / "flores"
CLIP = SAMPLES / "speech" / "en" / "picovoice_test_en.wav"


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_nllb_checkpoint

    lines = [
        line
        for lang in ("en", "es", "fr", "zh")
        for line in (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:150]
    ]
    return build_nllb_checkpoint(tmp_path_factory.mktemp("mt") / "nllb-tiny", lines)


def livetrans(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVETRANS_CACHE_DIR": str(cache), "HF_ENDPOINT": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "livetrans.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_transcribe_to_several_languages_writes_a_file_per_language(tiny_nllb, tmp_path):
    out = tmp_path / "out"
    result = livetrans(
        "transcribe", str(CLIP), "-o", str(out), "--format", "srt,jsonl",
        "--to", "en,es,fr", "--mt-model", str(tiny_nllb), cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    stem = CLIP.stem
    # The source captions in one file; a file per target (en, the source's own language, empty).
    assert names == sorted([f"{stem}.srt", f"{stem}.en.srt", f"{stem}.es.srt", f"{stem}.fr.srt", f"{stem}.jsonl"])
    assert list(srt.parse((out / f"{stem}.srt").read_text(encoding="utf-8")))
    assert (out / f"{stem}.en.srt").read_text(encoding="utf-8") == ""
    events = [json.loads(line) for line in (out / f"{stem}.jsonl").read_text().splitlines()]
    sentences = {e["id"]: e for e in events if e["type"] == "sentence"}
    translations = [e for e in events if e["type"] == "translation"]
    assert sentences and translations
    # one translation per sentence per target; none into the source language
    assert sorted((t["id"], t["lang"]) for t in translations) == sorted(
        (sid, lang) for sid in sentences for lang in ("es", "fr")
    )
    for t in translations:
        assert t["source_lang"] == "en" and t["start"] == sentences[t["id"]]["start"]
        assert t["seq"] > sentences[t["id"]]["seq"]
    for lang in ("es", "fr"):
        cues = list(srt.parse((out / f"{stem}.{lang}.srt").read_text(encoding="utf-8")))
        assert cues, f"no {lang} cues"
        for cue in cues:
            lines = cue.content.split("\n")
            assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)


def test_live_translation_events_follow_their_sentences(tiny_nllb, tmp_path):
    result = livetrans(
        "transcribe", str(CLIP), "--live", "--print", "jsonl", "-o", str(tmp_path / "out"),
        "--language", "en", "--to", "es", "--mt-model", str(tiny_nllb), cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    seen_sentences = set()
    translated = set()
    for e in events:
        if e["type"] == "sentence":
            seen_sentences.add(e["id"])
        elif e["type"] == "translation" and e["kind"] == "final":
            assert e["id"] in seen_sentences, "a translation never comes before its sentence"
            assert e["lang"] == "es" and e["id"] not in translated
            translated.add(e["id"])
        elif e["type"] == "translation":
            # A draft: the sentence so far, while it is being spoken.
            assert e["id"] not in seen_sentences, "no draft once the sentence has ended"
            assert e["lang"] == "es" and e["text"]
    assert translated == seen_sentences and translated
    durable = [e["seq"] for e in events if e.get("kind") != "partial"]
    assert durable == list(range(1, len(durable) + 1))


def test_an_unknown_target_language_is_refused_before_any_audio(tiny_nllb, tmp_path):
    result = livetrans(
        "transcribe", str(CLIP), "-o", str(tmp_path / "out"), "--live", "--language", "en",
        "--to", "tlh", "--mt-model", str(tiny_nllb), cache=tmp_path / "cache",
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]  # after the one-time conversion's progress
    assert last.startswith("livetrans: error:") and "'tlh'" in last
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_model_per_pair_translates_each_target_and_a_missing_pair_is_refused(tmp_path):
    from livetrans.mt.synthetic import build_marian_checkpoint

    en = (FLORES / "flores-dev.en").read_text("utf-8").splitlines()[:150]
    pairs = [
        build_marian_checkpoint(
            tmp_path / "mt" / f"opus-mt-en-{lang}", en,
            (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:150],
            source_lang="en", target_lang=lang,
        )
        for lang in ("es", "fr")
    ]
    spec = ",".join(str(p) for p in pairs)
    out = tmp_path / "out"
    result = livetrans(
        "transcribe", str(CLIP), "-o", str(out), "--format", "srt", "--language", "en",
        "--to", "es,fr", "--mt-model", spec, cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    texts = {lang: (out / f"{CLIP.stem}.{lang}.srt").read_text(encoding="utf-8") for lang in ("es", "fr")}
    assert all(texts.values()) and texts["es"] != texts["fr"]

    refused = livetrans(
        "transcribe", str(CLIP), "-o", str(tmp_path / "out2"), "--language", "en",
        "--to", "es,de", "--mt-model", spec, cache=tmp_path / "cache",
    )
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("livetrans: error:") and "en→de" in last
