"""Model resolution: catalog, hub offline, missing or broken folders (no network)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from livetrans.errors import ModelError, ModelNotInstalledError
from livetrans.models import list_models, load_catalog
from livetrans.models.catalog import mt_cache_dir
from livetrans.mt.folders import META_FILE
from livetrans.mt.models import pull, resolve_mt_model


def test_catalog_names_licenses() -> None:
    catalog = load_catalog("translation")
    nllb = catalog["nllb-200-distilled-600M"]
    assert (nllb.hub, nllb.license) == ("facebook/nllb-200-distilled-600M", "CC-BY-NC-4.0")
    assert "non-commercial" in nllb.note
    assert catalog["m2m100_418M"].license == "MIT"
    assert catalog["opus-mt-zh-en"].license == "CC-BY-4.0"
    for entry in catalog.values():
        assert entry.family in ("nllb", "m2m100", "marian") and entry.license


def test_models_dir_links_the_catalog() -> None:
    """models/catalog.json is the one catalog, speech and translation together."""
    linked = Path(__file__).resolve().parents[2] / "models" / "catalog.json"
    entries = json.loads(linked.read_text("utf-8"))["models"]
    assert {k for k, e in entries.items() if e["kind"] == "translation"} == set(
        load_catalog("translation")
    )


def test_cache_dir_follows_the_environment(mt_cache: Path) -> None:
    assert mt_cache_dir() == mt_cache / "mt"


def test_list_shows_everything_missing_in_an_empty_cache() -> None:
    statuses = list_models("translation")
    assert {s.name for s in statuses} == set(load_catalog("translation"))
    assert all(s.status == "downloadable" and s.path is None for s in statuses)
    assert all(s.note == f"livetrans models pull {s.name}" for s in statuses)


def test_hub_unreachable_fails_fast_with_a_hint() -> None:
    """HF_ENDPOINT points at a closed local port (conftest): a clear error, no retry loop."""
    started = time.monotonic()
    no_network = (
        r"^no network: cannot download model 'nllb-200-distilled-600M'"
        r" \(facebook/nllb-200-distilled-600M\) because the hub is unreachable: put the model at"
        r" .*facebook--nllb-200-distilled-600M or run on a machine with network$"
    )
    with pytest.raises(ModelNotInstalledError, match=no_network):
        pull("nllb-200-distilled-600M", progress=False)
    with pytest.raises(ModelNotInstalledError, match="unreachable"):
        resolve_mt_model("Helsinki-NLP/opus-mt-zh-en", progress=False)
    assert time.monotonic() - started < 15


def test_no_download_means_no_network() -> None:
    with pytest.raises(ModelNotInstalledError, match="livetrans models pull m2m100_418M"):
        resolve_mt_model("m2m100_418M", download=False)


def test_offline_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotInstalledError, match="HF_HUB_OFFLINE"):
        resolve_mt_model("facebook/nllb-200-distilled-600M")


def test_unknown_spec() -> None:
    with pytest.raises(ModelError, match="unknown translation model 'nllb'"):
        resolve_mt_model("nllb")


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such translation model folder"):
        resolve_mt_model(str(tmp_path / "nope"))
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_mt_model(str(tmp_path / "f.bin"))
    with pytest.raises(ModelError, match="neither model.bin .* nor config.json"):
        resolve_mt_model(str(tmp_path))


def _copy(src: Path, dest: Path, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(src, dest)
    for name in drop:
        (dest / name).unlink()
    return dest


def test_hf_folder_is_recognised(nllb_dir: Path, marian_dir: Path) -> None:
    nllb = resolve_mt_model(str(nllb_dir))
    assert nllb.hf_path == nllb_dir and nllb.ct2_path is None
    assert nllb.info.family == "nllb" and {"eng_Latn", "zho_Hant", "yue_Hant"} <= nllb.info.languages
    assert len(nllb.info.languages) == 202
    marian = resolve_mt_model(str(marian_dir))
    assert (marian.info.family, marian.info.source, marian.info.target) == ("marian", "zho_Hans", "eng_Latn")


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (("model.safetensors",), "lacks its weights"),
        (("tokenizer.json",), "lacks tokenizer.json: a nllb checkpoint needs its tokenizer files"),
        (("sentencepiece.bpe.model",), "lacks sentencepiece.bpe.model"),
    ],
)
def test_incomplete_hf_folder_says_what_is_missing(
    nllb_dir: Path, tmp_path: Path, drop: tuple[str, ...], message: str
) -> None:
    folder = _copy(nllb_dir, tmp_path / "m", drop)
    with pytest.raises(ModelError, match=message):
        resolve_mt_model(str(folder))


def test_broken_config_and_wrong_model_type(nllb_dir: Path, tmp_path: Path) -> None:
    folder = _copy(nllb_dir, tmp_path / "m")
    (folder / "config.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ModelError, match="unreadable config.json"):
        resolve_mt_model(str(folder))
    (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ModelError, match="holds a 'bert' model"):
        resolve_mt_model(str(folder))


def test_marian_without_a_known_pair(marian_dir: Path, tmp_path: Path) -> None:
    folder = _copy(marian_dir, tmp_path / "my-marian")
    config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    config.pop("source_lang"), config.pop("target_lang")
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="cannot tell the language pair"):
        resolve_mt_model(str(folder))
    renamed = folder.rename(tmp_path / "opus-mt-zh-en")  # the opus-mt name is enough
    assert resolve_mt_model(str(renamed)).info.target == "eng_Latn"


def test_converted_folder_is_used_as_is_and_checked(nllb_dir: Path, tmp_path: Path) -> None:
    from livetrans.mt.convert import ensure_ct2

    ct2 = ensure_ct2(resolve_mt_model(str(nllb_dir)), quantization="int8")
    assert ct2.is_relative_to(mt_cache_dir()) and (ct2 / META_FILE).is_file()
    resolved = resolve_mt_model(str(ct2))
    assert resolved.ct2_path == ct2 and resolved.hf_path is None
    assert resolved.info.family == "nllb" and len(resolved.info.languages) == 202
    no_meta = _copy(ct2, tmp_path / "plain-ct2", (META_FILE,))  # someone else's conversion
    assert resolve_mt_model(str(no_meta)).info.languages == resolved.info.languages
    broken = _copy(ct2, tmp_path / "broken-ct2", ("sentencepiece.bpe.model",))
    with pytest.raises(ModelError, match="lacks sentencepiece.bpe.model"):
        resolve_mt_model(str(broken))


def test_pull_converts_a_downloaded_checkpoint_once(
    nllb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything after the download: a completed hub snapshot is converted once into the
    cache, listed as converted, and resolved without any network."""
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(tmp_path))
    hub = mt_cache_dir() / "hub" / "facebook--nllb-200-distilled-600M"
    shutil.copytree(nllb_dir, hub)
    (hub / ".cache" / "huggingface" / "download").mkdir(parents=True)  # huggingface_hub's state
    with pytest.raises(ModelNotInstalledError):  # no completion marker: an interrupted download
        resolve_mt_model("nllb-200-distilled-600M", download=False)
    (hub / ".livetrans-complete").write_text("facebook/nllb-200-distilled-600M\n", encoding="utf-8")
    folder = pull("nllb-200-distilled-600M", progress=False)
    assert folder == mt_cache_dir() / "ct2" / "nllb-200-distilled-600M-int8"
    meta = json.loads((folder / META_FILE).read_text("utf-8"))
    assert (meta["license"], meta["family"]) == ("CC-BY-NC-4.0", "nllb")
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert pull("facebook/nllb-200-distilled-600M", progress=False) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    status = {s.name: s for s in list_models("translation")}["nllb-200-distilled-600M"]
    assert (status.status, status.path, status.note) == (
        "installed", folder, "converted to CTranslate2"
    )
    resolved = resolve_mt_model("nllb-200-distilled-600M", download=False)
    assert resolved.info.license == "CC-BY-NC-4.0" and resolved.hf_path == hub
    shutil.rmtree(hub)  # only the conversion left: still usable offline
    assert resolve_mt_model("nllb-200-distilled-600M", download=False).ct2_path == folder


def test_a_checkpoint_put_where_the_no_network_error_says_is_used(
    nllb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, the error names a folder; a checkpoint copied there by hand resolves."""
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelNotInstalledError, match="no network") as info:
        resolve_mt_model("nllb-200-distilled-600M", progress=False)
    folder = Path(str(info.value).split("put the model at ")[1].split(" or run on")[0])
    shutil.copytree(nllb_dir, folder)
    resolved = resolve_mt_model("nllb-200-distilled-600M", download=False)
    assert resolved.hf_path == folder and resolved.info.family == "nllb"
    status = {s.name: s for s in list_models("translation")}["nllb-200-distilled-600M"]
    assert (status.status, status.path) == ("installed", folder)
