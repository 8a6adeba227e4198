"""Converting a Hugging Face translation checkpoint to CTranslate2, once.

Conversions live in ``mt_cache_dir()/ct2/<name>-<quantization>`` beside a
``livetrans-mt.json`` that records the family, languages, license and a stamp of
the weights converted, so a changed checkpoint is converted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ModelError
from ..models.catalog import mt_cache_dir
from .base import ModelInfo
from .folders import META_FILE, SPM_FILES

if TYPE_CHECKING:
    from .models import ResolvedModel

log = logging.getLogger(__name__)

Quantization = Literal["int8", "int8_float16", "float16", "float32"]
QUANTIZATIONS: tuple[Quantization, ...] = ("int8", "int8_float16", "float16", "float32")


def ct2_dir(name: str, quantization: str) -> Path:
    """Where ``name`` converted at ``quantization`` lives."""
    return mt_cache_dir() / "ct2" / f"{name.replace('/', '--')}-{quantization}"


def find_converted(name: str) -> Path | None:
    """A finished conversion of ``name`` at any quantization (int8 first), or None."""
    for quantization in QUANTIZATIONS:
        folder = ct2_dir(name, quantization)
        if (folder / META_FILE).is_file():
            return folder
    return None


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
        dest = ct2_dir(model.info.name, quantization)
    else:  # a user's folder: keyed on its path, reconverted when its weights change
        digest = hashlib.sha1(str(src).encode()).hexdigest()[:10]
        dest = ct2_dir(f"local-{src.name}-{digest}", quantization)
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
        import torch  # noqa: F401  # the converter needs it; fail here with a clear message
        import transformers  # noqa: F401
        from ctranslate2.converters import TransformersConverter
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
