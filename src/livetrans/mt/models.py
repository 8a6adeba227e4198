"""Where translation models come from: a local folder, a catalog name or a hub id.

A spec resolves to a :class:`ResolvedModel`: the Hugging Face checkpoint folder (what
the transformers engine loads and what gets converted) and/or a CTranslate2 folder
(what the fast engine loads), with the :class:`ModelInfo` read from the files.

- a local folder, in Hugging Face format (config.json + weights + tokenizer files)
  or already converted to CTranslate2 (model.bin + vocabulary + sentencepiece files);
- a catalog name (``catalog.json`` beside this module, linked from ``models/mt.json``)
  such as ``nllb-200-distilled-600M``;
- a hub id such as ``facebook/nllb-200-distilled-600M``.

Hub checkpoints are downloaded once (with progress) into ``mt_cache_dir()/hub`` and
converted once into ``mt_cache_dir()/ct2/<name>-<quantization>``; ``pull`` does both
(``livetrans models pull nllb-200-distilled-600M``). Conversion needs transformers
and torch; running a converted model needs only ctranslate2 and sentencepiece.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelError, ModelNotInstalledError
from .base import ModelInfo
from .folders import META_FILE, SPM_FILES, ct2_info, folder_kind, hf_info

log = logging.getLogger(__name__)

HUB_ETAG_TIMEOUT = 5.0  # s to reach the hub before we call it unreachable
_HUB_DONE = ".livetrans-complete"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_PATTERNS = ("*.json", "*.model", "*.spm", "*.txt")  # configs, vocabularies, tokenizers
_NETWORK_HINT = "connect to the network once, or pass --mt-model /path/to/model-folder"
_NETWORK_ERRORS = ("TransportError", "ConnectionError", "Timeout", "TimeoutException")
Quantization = Literal["int8", "int8_float16", "float16", "float32"]


def mt_cache_dir() -> Path:
    """Translation models live under the one livetrans cache: ``cache_dir()/mt``."""
    from ..models import cache_dir

    return cache_dir() / "mt"


@dataclass(frozen=True)
class CatalogEntry:
    """A known MT model: where it is on the hub, what it does, its license."""

    name: str
    hub: str
    family: str
    languages: str
    size_mb: int  # converted int8 CTranslate2 folder
    download_mb: int  # the Hugging Face checkpoint
    license: str
    note: str
    source: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class ResolvedModel:
    """The local folders of one model; at least one of the two is set."""

    info: ModelInfo
    hf_path: Path | None  # Hugging Face checkpoint: transformers engine, conversion source
    ct2_path: Path | None  # CTranslate2 folder, when the spec named one


@dataclass(frozen=True)
class MtModelStatus:
    """A catalog model as ``livetrans models list`` shows it."""

    name: str
    hub: str
    languages: str
    size_mb: int
    license: str
    note: str
    status: Literal["converted", "downloaded", "missing"]
    path: Path | None


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, CatalogEntry]:
    """The MT model catalog shipped beside this module."""
    text = importlib.resources.files("livetrans.mt").joinpath("catalog.json").read_text("utf-8")
    raw: dict[str, dict[str, Any]] = json.loads(text)["mt"]
    return {
        name: CatalogEntry(
            name=name,
            hub=item["hub"],
            family=item["family"],
            languages=item["languages"],
            size_mb=int(item["size_mb"]),
            download_mb=int(item["download_mb"]),
            license=item["license"],
            note=item["note"],
            source=item.get("source"),
            target=item.get("target"),
        )
        for name, item in raw.items()
    }


def _catalog_by_hub(hub: str) -> CatalogEntry | None:
    return next((e for e in load_catalog().values() if e.hub == hub), None)


def _hub_dir(hub: str) -> Path:
    return mt_cache_dir() / "hub" / hub.replace("/", "--")


def _ct2_dir(name: str, quantization: str) -> Path:
    return mt_cache_dir() / "ct2" / f"{name.replace('/', '--')}-{quantization}"


def resolve_mt_model(spec: str, *, download: bool = True, progress: bool = True) -> ResolvedModel:
    """The local folders for ``spec`` (path, catalog name or hub id).

    ``download=False`` never touches the network. Raises ModelError (missing or broken
    folder, unknown name) or ModelNotInstalledError (not downloaded, hub unreachable).
    """
    spec = spec.strip()
    catalog = load_catalog()
    entry = catalog.get(spec)
    path = Path(spec).expanduser()
    if entry is None and (path.exists() or spec.startswith(("/", ".", "~"))):
        return _local(path, spec)
    if entry is None and _HUB_ID_RE.match(spec):
        entry = _catalog_by_hub(spec)
        hub, name = spec, (entry.name if entry else spec)
    elif entry is not None:
        hub, name = entry.hub, entry.name
    else:
        raise ModelError(
            f"unknown translation model {spec!r}: use one of {', '.join(catalog)},"
            " a hub id org/name, or a path to a model folder"
        )
    license_ = entry.license if entry else "see the model card"
    converted = _find_converted(name)
    hf_dir = _hub_dir(hub)
    if (hf_dir / _HUB_DONE).is_file():
        info = hf_info(hf_dir, name=name, license=license_, hint=_marian_hint(entry))
        return ResolvedModel(info, hf_dir, None)  # ensure_ct2 finds or makes the conversion
    if converted is not None:
        return ResolvedModel(ct2_info(converted, name=name, license=license_), None, converted)
    if not download:
        raise ModelNotInstalledError(
            f"translation model {name!r} is not installed: run `livetrans models pull {name}`"
        )
    _download(hub, hf_dir, name=name, progress=progress)
    info = hf_info(hf_dir, name=name, license=license_, hint=_marian_hint(entry))
    return ResolvedModel(info, hf_dir, None)


def _marian_hint(entry: CatalogEntry | None) -> tuple[str, str] | None:
    if entry is not None and entry.source and entry.target:
        return entry.source, entry.target
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


def _find_converted(name: str) -> Path | None:
    for quantization in ("int8", "int8_float16", "float16", "float32"):
        folder = _ct2_dir(name, quantization)
        if (folder / META_FILE).is_file():
            return folder
    return None


def _download(hub: str, dest: Path, *, name: str, progress: bool) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelNotInstalledError(
            f"translation model {name!r} is not installed and HF_HUB_OFFLINE is set: {_NETWORK_HINT}"
        )
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, not at import
    log.info("downloading %s from the hub into %s", hub, dest)
    try:
        # model_info fails at once when the hub is unreachable (list_repo_files retries).
        info = huggingface_hub.HfApi(endpoint=endpoint).model_info(hub)
        files = [s.rfilename for s in info.siblings or []]
        # One copy of the weights: safetensors when the repo has them, else the .bin.
        weights = [f for f in files if f.endswith(".safetensors")] or [
            f for f in files if f.startswith("pytorch_model") and f.endswith((".bin", ".json"))
        ]
        huggingface_hub.snapshot_download(
            hub,
            local_dir=dest,
            allow_patterns=[*_HUB_PATTERNS, *weights],
            etag_timeout=HUB_ETAG_TIMEOUT,
            endpoint=endpoint,
            tqdm_class=None if progress else _silent_tqdm(),
        )
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as e:
        raise ModelError(f"no model {hub!r} on the hub: check the name") from e
    except hub_errors.LocalEntryNotFoundError as e:
        raise ModelNotInstalledError(
            f"translation model {name!r} is not installed and the hub is unreachable: {_NETWORK_HINT}"
        ) from e
    except hub_errors.HfHubHTTPError as e:
        raise ModelError(f"downloading {hub!r} from the hub failed: {e}".splitlines()[0]) from e
    except OSError as e:
        raise ModelError(f"cannot write model files to {dest}: {e.strerror or e}") from e
    except Exception as e:  # httpx/requests connection errors: the hub is unreachable
        if any(c.__name__ in _NETWORK_ERRORS for c in type(e).__mro__):
            raise ModelNotInstalledError(
                f"translation model {name!r} is not installed and the hub is unreachable:"
                f" {_NETWORK_HINT}"
            ) from e
        raise
    (dest / _HUB_DONE).write_text(hub + "\n", encoding="utf-8")


def _silent_tqdm() -> Any:
    from tqdm.auto import tqdm

    class SilentTqdm(tqdm):  # type: ignore[misc]  # tqdm ships no type hints
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentTqdm


def ensure_ct2(model: ResolvedModel, *, quantization: Quantization = "int8") -> Path:
    """A CTranslate2 folder for ``model``: the one given, or converted once into the cache.

    Conversion loads the checkpoint with transformers (torch) and writes to a temporary
    folder that is renamed into place, so an interrupted conversion leaves nothing.
    """
    if model.ct2_path is not None:
        return model.ct2_path
    assert model.hf_path is not None
    src = model.hf_path
    stamp = _weights_stamp(src)
    if src.is_relative_to(mt_cache_dir() / "hub"):
        dest = _ct2_dir(model.info.name, quantization)
    else:  # a user's folder: keyed on its path, reconverted when its weights change
        digest = hashlib.sha1(str(src).encode()).hexdigest()[:10]
        dest = _ct2_dir(f"local-{src.name}-{digest}", quantization)
    meta_path = dest / META_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text("utf-8"))
        if meta.get("source_stamp") == stamp:
            return dest
        log.info("%s changed since it was converted; converting again", src)
    _convert(model.info, src, dest, quantization=quantization, stamp=stamp)
    return dest


def _weights_stamp(folder: Path) -> str:
    parts = sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in folder.iterdir()
        if p.suffix in (".bin", ".safetensors", ".json", ".model", ".spm")
    )
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _convert(info: ModelInfo, src: Path, dest: Path, *, quantization: str, stamp: str) -> None:
    try:
        from ctranslate2.converters import TransformersConverter
        import torch  # noqa: F401  # the converter needs it; fail here with a clear message
        import transformers  # noqa: F401
    except ImportError as e:
        raise ModelError(
            f"converting {info.name} to CTranslate2 needs transformers and torch:"
            " pip install 'livetrans[mt]' (or pass an already converted folder)"
        ) from e
    copy = [name for name in SPM_FILES if (src / name).is_file()]
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to CTranslate2 (%s) into %s", src, quantization, dest)
    try:
        _converter_class(TransformersConverter)(str(src), copy_files=copy).convert(
            str(tmp), quantization=None if quantization == "float32" else quantization, force=True
        )
    except Exception as e:  # the converter raises ValueError, OSError, RuntimeError...
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"cannot convert {src} to CTranslate2: {e}".splitlines()[0]) from e
    meta = {
        "name": info.name,
        "family": info.family,
        "languages": sorted(info.languages),
        "source": info.source,
        "target": info.target,
        "license": info.license,
        "quantization": quantization,
        "converted_from": str(src),
        "source_stamp": stamp,
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _converter_class(base: Any) -> Any:
    """TransformersConverter, fixed for M2M-100 tokenizers under transformers 5.

    CTranslate2 4.8.5 reads M2M-100's language tokens from
    ``special_tokens_map["additional_special_tokens"]``, which transformers 5 no longer
    fills, so the converted vocabulary lacked __en__... and conversion failed. The
    tokenizer handed to the converter here lists them in ``get_vocab()``.
    """

    class Converter(base):  # type: ignore[misc]  # untyped library class
        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            lang_ids = getattr(tokenizer, "lang_token_to_id", None)
            if not lang_ids or all(t in tokenizer.get_vocab() for t in lang_ids):
                return tokenizer
            return _LanguageTokensView(tokenizer, dict(lang_ids))

    return Converter


class _LanguageTokensView:
    """A tokenizer whose ``get_vocab()`` also lists its language tokens."""

    def __init__(self, tokenizer: Any, lang_ids: dict[str, int]) -> None:
        self._tokenizer = tokenizer
        self._lang_ids = lang_ids

    def get_vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = dict(self._tokenizer.get_vocab())
        vocab.update(self._lang_ids)
        return vocab

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def pull(name_or_id: str, *, quantization: Quantization = "int8", progress: bool = True) -> Path:
    """Download (if needed) and convert a model; the CTranslate2 folder it ends in.

    What ``livetrans models pull NAME`` calls.
    """
    resolved = resolve_mt_model(name_or_id, download=True, progress=progress)
    if resolved.ct2_path is not None and resolved.hf_path is None:
        return resolved.ct2_path
    return ensure_ct2(resolved, quantization=quantization)


def list_mt_models() -> list[MtModelStatus]:
    """Every catalog model with whether it is converted, only downloaded, or missing."""
    out = []
    for entry in load_catalog().values():
        converted = _find_converted(entry.name)
        hf_dir = _hub_dir(entry.hub)
        if converted is not None:
            status: Literal["converted", "downloaded", "missing"] = "converted"
            path: Path | None = converted
        elif (hf_dir / _HUB_DONE).is_file():
            status, path = "downloaded", hf_dir
        else:
            status, path = "missing", None
        out.append(
            MtModelStatus(
                name=entry.name,
                hub=entry.hub,
                languages=entry.languages,
                size_mb=entry.size_mb,
                license=entry.license,
                note=entry.note,
                status=status,
                path=path,
            )
        )
    return out
