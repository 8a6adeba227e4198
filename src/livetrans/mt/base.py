"""The translator interface, what a model can do, and the language-pair check.

No model library is imported here: this is the part of the translation stage that
the pipeline and the tests can use without torch or CTranslate2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..errors import LanguageError
from .languages import Language, language_from_flores, resolve_language

Family = Literal["nllb", "m2m100", "marian"]
# Language tokens (eng_Latn, __en__) and M2M-100's filler words never belong in the text.
NON_TEXT_TOKEN_RE = re.compile(r"^(?:[a-z]{3}_[A-Z][a-z]{3}|__[a-z]{2,3}__|madeupword\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    """What a translation model is and which languages it handles.

    NLLB and M2M-100 are many-to-many: any of ``languages`` to any other. A Marian
    (opus-mt) model does one pair, ``source`` → ``target``.
    """

    name: str
    family: Family
    languages: frozenset[str]  # FLORES-200 codes the model knows
    source: str | None = None  # Marian only: FLORES code of the one source language
    target: str | None = None  # Marian only: FLORES code of the one target language
    license: str = "unknown"
    path: Path | None = None

    @property
    def license_notice(self) -> str | None:
        """One line to show where a user picks a non-commercial model (NLLB), else None."""
        if "-NC" in self.license.upper():
            return f"{self.name} is licensed {self.license}: non-commercial use only"
        return None

    def model_code(self, lang: Language) -> str | None:
        """The language token this model uses for ``lang`` (None if it has none)."""
        if lang.flores not in self.languages:
            return None
        if self.family == "nllb":
            return lang.flores
        if self.family == "m2m100":
            return f"__{lang.m2m}__" if lang.m2m else None
        return lang.code

    def can_translate(self, source: Language, target: Language) -> bool:
        if self.family == "marian":
            return source.flores == self.source and target.flores == self.target
        return source.flores in self.languages and target.flores in self.languages

    def describe_pairs(self) -> str:
        if self.family == "marian":
            src, tgt = (language_from_flores(c or "").code for c in (self.source, self.target))
            return f"it only translates {src} → {tgt}"
        return f"it knows {len(self.languages)} languages"


@dataclass(frozen=True)
class DecodeOptions:
    """How sentences are decoded. Greedy by default: captions are short and 2 cores few."""

    beam_size: int = 1
    max_input_tokens: int = 200  # longer sentences are cut (a caption sentence rarely is)
    max_new_tokens: int = 256  # output tokens after the target-language token
    min_new_tokens: int = 0  # benchmarks fix both to a reference length
    # Output cap relative to the longest input: a looping model stops early instead of
    # spending seconds of a 2-core budget on 256 tokens of repetition.
    max_length_ratio: float = 3.0
    max_length_margin: int = 10

    def max_new_for(self, source_tokens: int) -> int:
        """The output cap for a batch whose longest input has ``source_tokens`` tokens."""
        relative = int(self.max_length_ratio * source_tokens) + self.max_length_margin
        return max(self.min_new_tokens, min(self.max_new_tokens, relative))


@runtime_checkable
class Translator(Protocol):
    """Translates a batch of sentences in one source language into several targets.

    ``translate_batch`` makes one engine call for all texts × targets where the
    engine allows it and returns, for each target code as given, one translation
    per input text, in order. Codes are any accepted by
    :func:`livetrans.mt.languages.resolve_language`.

    ``cancel``: polled while decoding; once it returns True the engine stops early
    and the (cut short) output must be thrown away — the caller checks ``cancel()``
    after the call. Live drafts use it to make way for a finished sentence.

    ``models``: the models behind it (one, or several routed per pair: ``routing.py``).
    """

    @property
    def models(self) -> tuple[ModelInfo, ...]: ...

    def translate_batch(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[str]]: ...

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None: ...


def check_pairs(info: ModelInfo, source: str | None, targets: Sequence[str]) -> None:
    """Refuse, before any audio, a language or pair the model cannot do.

    ``source=None`` (language detected at run time) checks only that each target is
    one the model can produce. A target equal to the source is fine: it is never
    translated. Raises LanguageError naming the first bad code or pair.
    """
    if not targets:
        raise LanguageError("no target language given: pass --to with codes such as es,fr")
    src = resolve_language(source) if source else None
    if src is not None and src.flores not in info.languages:
        raise LanguageError(
            f"model {info.name} cannot translate from {source}: {info.describe_pairs()};"
            " pick another --model (see livetrans models list)"
        )
    for code in targets:
        tgt = resolve_language(code)
        if src is not None and tgt.flores == src.flores:
            continue
        if src is not None:
            ok = info.can_translate(src, tgt)
        elif info.family == "marian":
            ok = tgt.flores == info.target
        else:
            ok = tgt.flores in info.languages
        if not ok or info.model_code(tgt) is None:
            pair = f"{source}→{code}" if source else f"into {code}"
            raise LanguageError(
                f"model {info.name} cannot translate {pair}: {info.describe_pairs()};"
                " pick another --model or drop that --to language"
            )

