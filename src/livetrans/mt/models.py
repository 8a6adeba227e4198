"""Where translation models come from: a local folder, a catalog name or a hub id.

A spec resolves to a :class:`ResolvedModel`: the Hugging Face checkpoint folder (what
the transformers engine loads and what gets converted) and/or a CTranslate2 folder
(what the fast engine loads), with the :class:`ModelInfo` read from the files.

- a local folder, in Hugging Face format (config.json + weights + tokenizer files)
  or already converted to CTranslate2 (model.bin + vocabulary + sentencepiece files);
- a catalog name (kind ``translation`` in the registry's catalog, ``livetrans.models``)
  such as ``nllb-200-distilled-600M``;
- a hub id such as ``facebook/nllb-200-distilled-600M``.

Hub checkpoints are downloaded once (with progress, by the registry's downloader)
into ``mt_cache_dir()/hub`` and converted once (``convert.py``) into
``mt_cache_dir()/ct2/<name>-<quantization>``; ``pull`` does both
(``livetrans models pull nllb-200-distilled-600M``). Conversion needs transformers
and torch; running a converted model needs only ctranslate2 and sentencepiece.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, ModelNotInstalledError
from ..models import hub
from ..models.catalog import CatalogEntry, hub_folder, load_catalog, mt_cache_dir
from ..models.status import ModelStatus
from .base import ModelInfo
from .convert import Quantization, ensure_ct2, find_converted
from .folders import ct2_info, folder_kind, hf_info

log = logging.getLogger(__name__)

_HUB_PATTERNS = ("*.json", "*.model", "*.spm", "*.txt")  # configs, vocabularies, tokenizers


@dataclass(frozen=True)
class ResolvedModel:
    """The local folders of one model; at least one of the two is set."""

    info: ModelInfo
    hf_path: Path | None  # Hugging Face checkpoint: transformers engine, conversion source
    ct2_path: Path | None  # CTranslate2 folder, when the spec named one


def _catalog_by_hub(repo_id: str) -> CatalogEntry | None:
    return next((e for e in load_catalog("translation").values() if e.hub == repo_id), None)


def _hub_dir(repo_id: str) -> Path:
    return hub_folder(mt_cache_dir(), repo_id)


def resolve_mt_model(spec: str, *, download: bool = True, progress: bool = True) -> ResolvedModel:
    """The local folders for ``spec`` (path, catalog name or hub id).

    ``download=False`` never touches the network. Raises ModelError (missing or broken
    folder, unknown name) or ModelNotInstalledError (not downloaded, hub unreachable).
    """
    spec = spec.strip()
    catalog = load_catalog("translation")
    entry = catalog.get(spec)
    path = Path(spec).expanduser()
    if entry is None and (path.exists() or spec.startswith(("/", ".", "~"))):
        return _local(path, spec)
    if entry is None and hub.HUB_ID_RE.match(spec):
        entry = _catalog_by_hub(spec)
        repo_id, name = spec, (entry.name if entry else spec)
    elif entry is not None and entry.hub is not None:
        repo_id, name = entry.hub, entry.name
    else:
        raise ModelError(
            f"unknown translation model {spec!r}: use one of {', '.join(catalog)},"
            " a hub id org/name, or a path to a model folder"
        )
    license_ = entry.license if entry else "see the model card"
    converted = find_converted(name)
    hf_dir = _hub_dir(repo_id)
    if _checkpoint_present(hf_dir):
        info = hf_info(hf_dir, name=name, license=license_, hint=_marian_hint(entry))
        return ResolvedModel(info, hf_dir, None)  # ensure_ct2 finds or makes the conversion
    if converted is not None:
        return ResolvedModel(ct2_info(converted, name=name, license=license_), None, converted)
    if not download:
        raise ModelNotInstalledError(
            f"translation model {name!r} is not installed: run `livetrans models pull {name}`"
        )
    hub.download(
        repo_id, hf_dir, name=name, allow_patterns=_HUB_PATTERNS, choose_files=_one_weights_copy,
        progress=progress,
    )
    hub.mark_complete(hf_dir, repo_id)
    info = hf_info(hf_dir, name=name, license=license_, hint=_marian_hint(entry))
    return ResolvedModel(info, hf_dir, None)


def _marian_hint(entry: CatalogEntry | None) -> tuple[str, str] | None:
    if entry is not None and entry.source_lang and entry.target_lang:
        return entry.source_lang, entry.target_lang
    return None


def _local(path: Path, spec: str) -> ResolvedModel:
    if not path.exists():
        raise ModelError(f"no such translation model folder: {spec}")
    if not path.is_dir():
        raise ModelError(f"translation model path {spec} is a file: give the folder that holds it")
    path = path.resolve()
    kind = folder_kind(path)
    if kind == "ct2":
        return ResolvedModel(ct2_info(path, name=path.name), None, path)
    return ResolvedModel(hf_info(path, name=path.name), path, None)


def _checkpoint_present(hf_dir: Path) -> bool:
    """A whole download, or a checkpoint a user put there (the no-network error says where)."""
    return hub.is_complete(hf_dir) or hub.placed_by_hand(hf_dir, "config.json")


def _one_weights_copy(files: Sequence[str]) -> list[str]:
    """One copy of the weights: safetensors when the repo has them, else the .bin."""
    return [f for f in files if f.endswith(".safetensors")] or [
        f for f in files if f.startswith("pytorch_model") and f.endswith((".bin", ".json"))
    ]


def pull(name_or_id: str, *, quantization: Quantization = "int8", progress: bool = True) -> Path:
    """Download (if needed) and convert a model; the CTranslate2 folder it ends in.

    What ``livetrans models pull NAME`` calls.
    """
    resolved = resolve_mt_model(name_or_id, download=True, progress=progress)
    if resolved.ct2_path is not None and resolved.hf_path is None:
        return resolved.ct2_path
    return ensure_ct2(resolved, quantization=quantization)


def translation_status(entry: CatalogEntry) -> ModelStatus:
    """A catalog translation model as ``livetrans models list`` shows it."""
    converted = find_converted(entry.name)
    hf_dir = _hub_dir(entry.hub or entry.name)
    if converted is not None:
        return ModelStatus.of(entry, "installed", converted, "converted to CTranslate2")
    if _checkpoint_present(hf_dir):
        return ModelStatus.of(entry, "installed", hf_dir, "downloaded; converted on first use")
    if hub.hub_offline():
        return ModelStatus.of(entry, "missing", None, entry.install_hint)
    return ModelStatus.of(entry, "downloadable", None, f"livetrans models pull {entry.name}")
