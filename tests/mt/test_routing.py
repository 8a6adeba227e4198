"""Several translation models as one (``--mt-model a,b,c``), on tiny real-architecture
checkpoints: two one-pair opus-mt models and a many-to-many NLLB as the fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from livetrans.errors import LanguageError, ModelError
from livetrans.mt import DecodeOptions, ModelInfo, ModelPerPair, Translator, load_translator
from livetrans.mt.stage import TranslationStage
from livetrans.types import SentenceEvent

from .conftest import flores_lines

OPTIONS = DecodeOptions(max_new_tokens=12)
EN = ["Hello everyone, welcome to the live stream!", "The price is $19.99 today."]


def marian(root: Path, target: str) -> Path:
    from livetrans.mt.synthetic import build_marian_checkpoint

    return build_marian_checkpoint(
        root / f"opus-mt-en-{target}", flores_lines("en"), flores_lines(target),
        source_lang="en", target_lang=target,
    )


@pytest.fixture(scope="module")
def pair_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pairs")
    return {target: marian(root, target) for target in ("es", "fr")}


def load(spec: str | Path) -> Translator:
    return load_translator(spec, quantization="float32", compute_type="float32", options=OPTIONS)


class Counted:
    """A real translator that records the targets of each call it gets."""

    def __init__(self, inner: Translator) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return self.inner.models

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        self.inner.check_pairs(source, targets)

    def translate_batch(
        self, texts: Sequence[str], source: str, targets: Sequence[str], cancel: Callable[[], bool] | None = None
    ) -> dict[str, list[str]]:
        self.calls.append(list(targets))
        return self.inner.translate_batch(texts, source, targets, cancel)


def test_each_pair_goes_to_the_first_model_that_translates_it(pair_dirs: dict[str, Path], nllb_dir: Path) -> None:
    es, fr, nllb = load(pair_dirs["es"]), load(pair_dirs["fr"]), load(nllb_dir)
    routed = load(f"{pair_dirs['es']},{pair_dirs['fr']},{nllb_dir}")
    assert isinstance(routed, ModelPerPair)
    assert [m.name for m in routed.models] == ["opus-mt-en-es", "opus-mt-en-fr", "nllb-tiny"]

    out = routed.translate_batch(EN, "en", ["de", "es", "fr"])
    assert list(out) == ["de", "es", "fr"]  # the targets as asked, whichever model did each
    assert out["es"] == es.translate_batch(EN, "en", ["es"])["es"]
    assert out["fr"] == fr.translate_batch(EN, "en", ["fr"])["fr"]
    assert out["de"] == nllb.translate_batch(EN, "en", ["de"])["de"]  # no pair model: the fallback
    assert out["es"] != out["fr"]


def test_one_call_per_model_that_serves_a_target(pair_dirs: dict[str, Path], nllb_dir: Path) -> None:
    es, fr, nllb = (Counted(load(p)) for p in (pair_dirs["es"], pair_dirs["fr"], nllb_dir))
    stage = TranslationStage(ModelPerPair([es, fr, nllb]), ["es", "de", "zh-TW", "fr"])
    events = stage.push(SentenceEvent(id="s1", start=0.0, end=2.0, text=EN[0], lang="en"))
    assert [e.lang for e in events] == ["es", "de", "zh-TW", "fr"] and all(e.text for e in events)
    assert (es.calls, fr.calls, nllb.calls) == ([["es"]], [["fr"]], [["de", "zh-TW"]])


def test_a_pair_no_model_translates_is_refused_before_any_audio(pair_dirs: dict[str, Path]) -> None:
    routed = load(f"{pair_dirs['es']},{pair_dirs['fr']}")
    routed.check_pairs("en", ["es", "fr"])
    routed.check_pairs(None, ["fr"])  # language detected at run time: the targets are checked
    routed.check_pairs("es", ["es"])  # a target in the source language is never translated
    with pytest.raises(LanguageError, match=r"opus-mt-en-es, opus-mt-en-fr\) can translate en→de"):
        routed.check_pairs("en", ["es", "de"])
    with pytest.raises(LanguageError, match="zh→es"):
        routed.check_pairs("zh", ["es"])
    with pytest.raises(LanguageError, match="into de"):
        routed.check_pairs(None, ["de"])
    # A sentence detected in a language no model translates from is skipped, not fatal.
    stage = TranslationStage(routed, ["es", "fr"])
    assert stage.push(SentenceEvent(id="s1", start=0.0, end=1.0, text="你好", lang="zh")) == []
    assert stage.skipped == 1


def test_a_cancelled_draft_makes_no_further_model_call(pair_dirs: dict[str, Path]) -> None:
    es, fr = Counted(load(pair_dirs["es"])), Counted(load(pair_dirs["fr"]))
    routed = ModelPerPair([es, fr])
    routed.translate_batch(EN, "en", ["es", "fr"], cancel=lambda: bool(es.calls))
    assert (es.calls, fr.calls) == ([["es"]], [])


def test_an_empty_name_in_the_list_is_refused(pair_dirs: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="empty model name"):
        load(f"{pair_dirs['es']},,{pair_dirs['fr']}")
