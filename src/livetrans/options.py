"""Argument groups and converters that the command shells share.

``livetrans transcribe``, ``bench asr``, ``serve`` and ``eval`` take the same model
options and list syntax; they live here, below every shell, so that ``server/`` and
``evaluation/`` register their commands without importing the CLI module.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import PipelineConfig


def csv_list(value: str) -> tuple[str, ...]:
    """An argument like "en, es,zh" as ("en", "es", "zh"); empty items dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def language_option(value: str) -> str | None:
    """A --language value: None for auto-detection ("auto" or empty), else the code."""
    return None if value.strip().lower() in ("", "auto") else value.strip()


def positive_int(value: str) -> int:
    """A count of at least 1, or an argparse error that says so."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that runs the pipeline shares."""
    parser.add_argument("--model", default="base", help="speech model: a name from 'livetrans models list', a hub id, or a local CTranslate2 folder (default: base)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu runs int8, cuda float16 (default: cpu)")
    parser.add_argument("--language", type=language_option, default=None, metavar="auto|CODE", help="source language, e.g. en, zh, es; auto detects it per utterance (default: auto)")
    parser.add_argument("--task", choices=("transcribe", "translate"), default="transcribe", help="translate: Whisper's own any-language → English, no extra model")
    parser.add_argument("--to", type=csv_list, default=(), metavar="LANGS", help="translate finals into these languages, e.g. en,es,ru")
    parser.add_argument("--mt-model", default="nllb-200-distilled-600M", help="translation model: a name from 'livetrans models list', a hub id or a local folder (default: nllb-200-distilled-600M, CC-BY-NC-4.0); several, comma-separated, give each language pair to the first that can translate it (e.g. opus-mt-en-es,opus-mt-en-fr: faster on CPU)")
    parser.add_argument("--mt-engine", choices=("ctranslate2", "transformers"), default="ctranslate2")
    parser.add_argument("--glossary", type=Path, default=None, help="JSON or CSV file of product names and terms: recognised as written (prompt and near-miss respelling), and kept or translated as given (docs/translation.md)")
    parser.add_argument("--no-drafts", dest="drafts", action="store_false", help="live: translate finished sentences only, no draft translations of the sentence being spoken")
    parser.add_argument("--beam", type=positive_int, default=None, metavar="N", help="beam size of the streaming decodes: wider is more accurate and slower, 1 is greedy (default: 3; the decode at a pause uses at least 5)")
    parser.add_argument("--threads", type=int, default=0, help="CPU cores for speech (default: all): a decode running alone encodes on all of them; with "
                        "several streams this many decodes run at once, one a core")
    parser.add_argument("--zh-script", choices=("simplified", "traditional", "as-is"), default="simplified", help="write Mandarin captions in this script (default: simplified)")


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    from .pipeline import PipelineConfig

    return PipelineConfig(
        model=args.model,
        device=args.device,
        language=args.language,
        task=args.task,
        targets=tuple(args.to),
        mt_model=args.mt_model,
        mt_engine=args.mt_engine,
        glossary=args.glossary,
        translation_drafts=args.drafts,
        cpu_threads=args.threads,
        chinese_script=args.zh_script,
        beam=args.beam,
    )
