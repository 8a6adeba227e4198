"""Several translation models as one translator: each pair goes to a model of its own.

``--mt-model opus-mt-en-es,opus-mt-en-fr,opus-mt-en-de`` loads three one-pair models
and :class:`ModelPerPair` sends each (source, target) pair to the first model in that
list that can translate it, so a many-to-many model can stand last as the fallback
(``opus-mt-en-es,m2m100_418M``: Spanish by opus-mt, every other target by M2M-100).

Why: on CPU a decoding step costs about the reading of the decoder's weights once,
whatever the batch holds. An opus-mt model (6 + 6 layers of width 512, a vocabulary of
about 60 000) reads about an eighth of what NLLB-200-distilled-600M (12 + 12 layers of
width 1024, a vocabulary of 256 206) reads per step, so three one-pair calls cost less
than one three-target NLLB call (docs/benchmarks.md). The opus-mt pairs are also
licensed CC-BY-4.0, where NLLB's weights are non-commercial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import LanguageError
from .base import ModelInfo, Translator


class ModelPerPair:
    """A :class:`Translator` over several: each pair to the first model that can do it.

    One ``translate_batch`` call makes one call per model that serves any of the
    targets (each model batches its own targets), models in the order given.
    """

    def __init__(self, translators: Sequence[Translator]) -> None:
        if not translators:
            raise ValueError("ModelPerPair needs at least one translator")
        self.translators = tuple(translators)

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return tuple(info for t in self.translators for info in t.models)

    def _route(self, source: str | None, targets: Sequence[str]) -> list[tuple[Translator, list[str]]]:
        """The models that serve ``targets``, each with its targets (in the order given);
        LanguageError for a target no model can produce from ``source``."""
        routes: dict[int, list[str]] = {}
        for target in targets:
            for i, translator in enumerate(self.translators):
                try:
                    translator.check_pairs(source, [target])
                except LanguageError:
                    continue
                routes.setdefault(i, []).append(target)
                break
            else:
                pair = f"{source}→{target}" if source else f"into {target}"
                names = ", ".join(info.name for info in self.models)
                raise LanguageError(
                    f"none of the translation models given ({names}) can translate {pair}:"
                    " add a model for that pair to --mt-model, or drop that --to language"
                )
        return [(self.translators[i], routes[i]) for i in sorted(routes)]

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        if not targets:
            raise LanguageError("no target language given: pass --to with codes such as es,fr")
        self._route(source, targets)

    def translate_batch(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for translator, group in self._route(source, targets):
            if cancel is not None and cancel():
                break  # the caller throws a cancelled result away: no more model calls
            out.update(translator.translate_batch(texts, source, group, cancel))
        return {t: out.get(t, [""] * len(texts)) for t in targets}
