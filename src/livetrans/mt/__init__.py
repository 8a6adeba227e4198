"""Machine translation: final sentences into every target language.

The only home of the model libraries for translation (ctranslate2's Translator,
transformers, torch, sentencepiece); they are imported lazily inside the engines, so
``import livetrans.mt`` stays light.

    translator = load_translator("nllb-200-distilled-600M")          # CTranslate2, int8
    translator.check_pairs("en", ["es", "zh-TW"])                    # before any audio
    stage = TranslationStage(translator, ["es", "zh-TW"], glossary=load_glossary(path))
    events = stage.push(sentence)                                     # list[TranslationEvent]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from ..errors import ModelError
from ..models.catalog import mt_cache_dir
from .base import DecodeOptions, ModelInfo, Translator, check_pairs
from .glossary import Glossary, GlossaryTerm, load_glossary
from .languages import Language, resolve_language, same_language
from .models import pull, resolve_mt_model
from .routing import ModelPerPair
from .stage import TranslationStage

Engine = Literal["ctranslate2", "transformers"]
log = logging.getLogger(__name__)

__all__ = [
    "DecodeOptions",
    "Engine",
    "Glossary",
    "GlossaryTerm",
    "Language",
    "ModelInfo",
    "ModelPerPair",
    "TranslationStage",
    "Translator",
    "check_pairs",
    "load_glossary",
    "load_translator",
    "mt_cache_dir",
    "pull",
    "resolve_language",
    "resolve_mt_model",
    "same_language",
]


def load_translator(
    spec: str | Path,
    *,
    engine: Engine = "ctranslate2",
    device: Literal["cpu", "cuda"] = "cpu",
    compute_type: str | None = None,
    quantization: Literal["int8", "int8_float16", "float16", "float32"] = "int8",
    inter_threads: int = 1,
    intra_threads: int = 2,
    download: bool = True,
    progress: bool = True,
    options: DecodeOptions = DecodeOptions(),
) -> Translator:
    """A ready translator for ``spec`` (folder, catalog name or hub id).

    Several specs separated by commas load one model each, and each language pair goes
    to the first of them that can translate it (:class:`ModelPerPair`), e.g.
    ``"opus-mt-en-es,opus-mt-en-fr,m2m100_418M"``.

    ``ctranslate2`` converts a Hugging Face checkpoint once into the cache
    (``quantization`` is the stored type; ``compute_type`` defaults to int8 on CPU and
    float16 on CUDA). ``transformers`` loads the checkpoint itself, on CPU in float32.
    """
    specs = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [spec]
    if len(specs) > 1:
        if not all(specs):
            raise ModelError(f"empty model name in --mt-model {spec!r}: separate model names with commas")
        return ModelPerPair([
            load_translator(
                one, engine=engine, device=device, compute_type=compute_type, quantization=quantization,
                inter_threads=inter_threads, intra_threads=intra_threads, download=download,
                progress=progress, options=options,
            )
            for one in specs
        ])
    resolved = resolve_mt_model(str(spec), download=download, progress=progress)
    if engine == "transformers":
        from .hf_engine import TransformersTranslator

        if resolved.hf_path is None:
            raise ModelError(
                f"the transformers engine needs the Hugging Face checkpoint of {resolved.info.name},"
                " not a CTranslate2 folder: pass the original folder or hub id"
            )
        if device != "cpu":
            log.warning("the transformers engine is the CPU reference: running on cpu, not %s", device)
        return TransformersTranslator(
            resolved.hf_path, resolved.info, threads=intra_threads, options=options
        )
    from .convert import ensure_ct2
    from .ct2_engine import CTranslate2Translator

    folder = ensure_ct2(resolved, quantization=quantization)
    return CTranslate2Translator(
        folder,
        resolved.info,
        device=device,
        compute_type=compute_type,
        inter_threads=inter_threads,
        intra_threads=intra_threads,
        options=options,
    )
