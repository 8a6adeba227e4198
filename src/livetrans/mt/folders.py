"""What a model folder holds: its format, its family, its languages.

Reads only JSON and file names (no model library), so a missing or broken folder
is reported before any heavy import, with what is missing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from ..errors import LanguageError, ModelError
from .base import Family, ModelInfo
from .languages import LANGUAGES, resolve_language

META_FILE = "livetrans-mt.json"  # written next to a conversion: family, languages, license
SPM_FILES = ("sentencepiece.bpe.model", "source.spm", "target.spm")
_FLORES_RE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_M2M_TOKEN_RE = re.compile(r"^__([a-z]{2,3})__$")
_OPUS_NAME_RE = re.compile(r"opus-mt-([a-zA-Z]{2,3})-([a-zA-Z]{2,3})(?:$|[^a-zA-Z])")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")
_NEEDS = {  # tokenizer files each family needs, in Hugging Face format
    "nllb": ("tokenizer.json", "sentencepiece.bpe.model"),
    "m2m100": ("sentencepiece.bpe.model", "vocab.json"),
    "marian": ("source.spm", "target.spm", "vocab.json"),
}
_CT2_NEEDS = {
    "nllb": ("sentencepiece.bpe.model",),
    "m2m100": ("sentencepiece.bpe.model",),
    "marian": ("source.spm", "target.spm"),
}


def folder_kind(path: Path) -> Literal["hf", "ct2"]:
    """``ct2`` for a CTranslate2 folder (model.bin), ``hf`` for a Hugging Face one."""
    if (path / "model.bin").is_file():
        return "ct2"
    if (path / "config.json").is_file():
        return "hf"
    raise ModelError(
        f"{path} is not a translation model folder: it has neither model.bin (CTranslate2)"
        " nor config.json (Hugging Face); give the folder that holds them"
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(
            f"model folder {path.parent} has an unreadable {path.name} ({e}):"
            " download or convert it again"
        ) from e


def _missing(path: Path, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        raise ModelError(f"model folder {path} lacks {', '.join(missing)}: {what}")


def hf_info(
    path: Path, *, name: str, license: str = "see the model card",
    hint: tuple[str, str] | None = None,
) -> ModelInfo:
    """The ModelInfo of a Hugging Face checkpoint folder; ModelError if it is incomplete."""
    config = _read_json(path / "config.json")
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in ("m2m_100", "marian"):
        raise ModelError(
            f"model folder {path} holds a {model_type!r} model: livetrans translates with"
            " NLLB-200, M2M-100 or Marian (opus-mt) checkpoints"
        )
    if not any((path / w).is_file() for w in _WEIGHTS):
        raise ModelError(
            f"model folder {path} lacks its weights (model.safetensors or pytorch_model.bin):"
            " download it again"
        )
    family: Family = "marian" if model_type == "marian" else _m2m_family(path)
    _missing(path, _NEEDS[family], f"a {family} checkpoint needs its tokenizer files")
    if family == "nllb":
        tokenizer = _read_json(path / "tokenizer.json")
        return ModelInfo(name, "nllb", _nllb_languages(_tokenizer_tokens(tokenizer)),
                         license=license, path=path)
    if family == "m2m100":
        return ModelInfo(name, "m2m100", _m2m_languages(), license=license, path=path)
    vocab = _read_json(path / "vocab.json")
    return _marian_info(path, name, license, hint, list(vocab))


def _m2m_family(path: Path) -> Family:
    tok_config = path / "tokenizer_config.json"
    cls = str(_read_json(tok_config).get("tokenizer_class", "")) if tok_config.is_file() else ""
    if cls.startswith("Nllb"):
        return "nllb"
    if cls.startswith("M2M100"):
        return "m2m100"
    return "nllb" if (path / "tokenizer.json").is_file() else "m2m100"


def _tokenizer_tokens(tokenizer: Any) -> list[str]:
    tokens = [str(t.get("content", "")) for t in tokenizer.get("added_tokens", [])]
    vocab = tokenizer.get("model", {}).get("vocab", {})
    if isinstance(vocab, dict):
        tokens.extend(vocab)
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        tokens.extend(str(item[0]) for item in vocab)
    return tokens


def _nllb_languages(tokens: list[str]) -> frozenset[str]:
    langs = frozenset(t for t in tokens if _FLORES_RE.match(t))
    if not langs:
        raise ModelError("the NLLB tokenizer has no language tokens (eng_Latn...): not an NLLB model")
    return langs


def _m2m_languages() -> frozenset[str]:
    # M2M-100's tokenizer adds its 100 language tokens itself; the table holds those we map.
    return frozenset(lang.flores for lang in LANGUAGES if lang.m2m)


def _marian_info(
    path: Path, name: str, license: str, hint: tuple[str, str] | None, vocab: list[str]
) -> ModelInfo:
    if any(t.startswith(">>") and t.endswith("<<") for t in vocab):
        raise ModelError(
            f"{name} is a multi-target opus-mt model (>>xx<< tokens): livetrans takes"
            " single-pair opus-mt models; pick one such as opus-mt-en-es or an NLLB model"
        )
    pair = hint or _pair_from_config(path) or _pair_from_name(name, path)
    if pair is None:
        raise ModelError(
            f"cannot tell the language pair of Marian model {name}: name its folder"
            " opus-mt-SRC-TGT or set source_lang/target_lang in tokenizer_config.json"
        )
    try:
        src, tgt = resolve_language(pair[0]).flores, resolve_language(pair[1]).flores
    except LanguageError as e:
        raise ModelError(f"Marian model {name} names a language livetrans does not know: {e}") from e
    return ModelInfo(name, "marian", frozenset({src, tgt}), source=src, target=tgt,
                     license=license, path=path)


def _pair_from_config(path: Path) -> tuple[str, str] | None:
    tok_config = path / "tokenizer_config.json"
    if not tok_config.is_file():
        return None
    data = _read_json(tok_config)
    src, tgt = data.get("source_lang"), data.get("target_lang")
    return (str(src), str(tgt)) if src and tgt else None


def _pair_from_name(name: str, path: Path) -> tuple[str, str] | None:
    for text in (name, path.name):
        match = _OPUS_NAME_RE.search(text)
        if match:
            return match.group(1), match.group(2)
    return None


def ct2_vocabulary(path: Path) -> list[str]:
    """The (shared or target) vocabulary of a CTranslate2 folder."""
    for stem in ("shared_vocabulary", "target_vocabulary"):
        if (path / f"{stem}.json").is_file():
            return [str(t) for t in _read_json(path / f"{stem}.json")]
        if (path / f"{stem}.txt").is_file():
            return (path / f"{stem}.txt").read_text("utf-8").splitlines()
    raise ModelError(
        f"model folder {path} lacks shared_vocabulary.json (or .txt): convert the model again"
    )


def ct2_info(path: Path, *, name: str, license: str = "see the model card") -> ModelInfo:
    """The ModelInfo of a CTranslate2 folder; ModelError if it is incomplete."""
    _missing(path, ("model.bin", "config.json"), "convert the model again")
    _read_json(path / "config.json")
    meta_path = path / META_FILE
    if meta_path.is_file():
        meta = _read_json(meta_path)
        family: Family = meta["family"]
        _missing(path, _CT2_NEEDS[family], "convert the model again")
        return ModelInfo(
            name=meta.get("name", name), family=family, languages=frozenset(meta["languages"]),
            source=meta.get("source"), target=meta.get("target"),
            license=meta.get("license", license), path=path,
        )
    vocab = ct2_vocabulary(path)
    if "eng_Latn" in vocab:
        _missing(path, _CT2_NEEDS["nllb"], "copy it from the original checkpoint")
        return ModelInfo(name, "nllb", _nllb_languages(vocab), license=license, path=path)
    if any(_M2M_TOKEN_RE.match(t) for t in vocab):
        _missing(path, _CT2_NEEDS["m2m100"], "copy it from the original checkpoint")
        return ModelInfo(name, "m2m100", _m2m_languages(), license=license, path=path)
    _missing(path, _CT2_NEEDS["marian"], "copy them from the original opus-mt checkpoint")
    return _marian_info(path, name, license, None, vocab)
