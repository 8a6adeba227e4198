"""The fast engine: a CTranslate2 translator with SentencePiece tokenization.

One ``translate_batch`` call covers every text × target: NLLB and M2M-100 rows carry
their target-language token as ``target_prefix``, so N targets cost one batched
decode, not N. int8 on CPU, float16 on CUDA by default. Only ctranslate2 and
sentencepiece are needed at run time (no torch).
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelError
from .base import NON_TEXT_TOKEN_RE, DecodeOptions, ModelInfo, check_pairs
from .languages import language_from_flores, resolve_language

log = logging.getLogger(__name__)

Device = Literal["cpu", "cuda"]
_SPECIALS = frozenset({"<s>", "</s>", "<pad>", "<unk>", "<mask>"})


# Every loaded model, released when the interpreter begins to exit (see _release_all).
_LOADED: weakref.WeakSet[CTranslate2Translator] = weakref.WeakSet()


def _release_all() -> None:
    """Free the loaded CTranslate2 models while Python is still whole. A model freed
    later, during the interpreter's own teardown, ends its worker thread there; if that
    thread still holds a Python callback of the last draft (the stop poll), releasing it
    needs the GIL of an interpreter that is going away, and the process aborted
    ("terminate called without an active exception", exit code 134)."""
    for translator in list(_LOADED):
        translator._translator = None


atexit.register(_release_all)


def default_compute_type(device: Device) -> str:
    """int8 on CPU (the 2-core target), float16 on a GPU."""
    return "float16" if device == "cuda" else "int8"


class CTranslate2Translator:
    """Translates with a converted CTranslate2 folder (see ``models.ensure_ct2``)."""

    def __init__(
        self,
        model_dir: Path,
        info: ModelInfo,
        *,
        device: Device = "cpu",
        compute_type: str | None = None,
        inter_threads: int = 1,
        intra_threads: int = 2,
        options: DecodeOptions = DecodeOptions(),
    ) -> None:
        import ctranslate2
        import sentencepiece as spm

        self.info = dataclasses.replace(info, path=model_dir)
        self.model_dir = model_dir
        self.options = options
        self.compute_type = compute_type or default_compute_type(device)
        try:
            self._translator = ctranslate2.Translator(
                str(model_dir),
                device=device,
                compute_type=self.compute_type,
                inter_threads=inter_threads,
                intra_threads=intra_threads,
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(
                f"cannot load the CTranslate2 model in {model_dir}: {e}".splitlines()[0]
                + " (convert it again, or check --device and the compute type)"
            ) from e
        _LOADED.add(self)
        if info.family == "marian":
            src_file, tgt_file = model_dir / "source.spm", model_dir / "target.spm"
        else:
            src_file = tgt_file = model_dir / "sentencepiece.bpe.model"
        try:
            self._sp_source = spm.SentencePieceProcessor(model_file=str(src_file))
            self._sp_target = (
                self._sp_source if tgt_file == src_file
                else spm.SentencePieceProcessor(model_file=str(tgt_file))
            )
        except (RuntimeError, OSError) as e:
            raise ModelError(f"cannot read the SentencePiece model {src_file.name} in {model_dir}: {e}") from e
        self._normalize = _marian_normalizer(info) if info.family == "marian" else None
        log.info(
            "CTranslate2 %s model %s on %s (%s, %d×%d threads)",
            info.family, info.name, device, self.compute_type, inter_threads, intra_threads,
        )

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return (self.info,)

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        check_pairs(self.info, source, targets)

    def _lang_token(self, code: str) -> str | None:
        if self.info.family == "marian":
            return None
        token = self.info.model_code(resolve_language(code))
        assert token is not None, "check_pairs refuses languages without a token"
        return token

    def _source_tokens(self, text: str, source_token: str | None) -> list[str]:
        if self._normalize is not None and text:
            text = self._normalize(text)
        sp = self._sp_source
        ids: list[int] = sp.encode(text)[: self.options.max_input_tokens]
        # Pieces by id, so a character the model lacks reads <unk> (as transformers has it).
        pieces = [sp.id_to_piece(i) if i != sp.unk_id() else "<unk>" for i in ids]
        return ([source_token] if source_token else []) + pieces + ["</s>"]

    def translate_tokens(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[list[str]]]:
        """Output tokens per target and text, the forced target-language token first."""
        self.check_pairs(source, targets)
        src_token = self._lang_token(source)
        encoded = [self._source_tokens(t, src_token) for t in texts]
        rows: list[list[str]] = []
        prefixes: list[list[str]] = []
        for target in targets:
            tgt_token = self._lang_token(target)
            rows.extend(encoded)
            prefixes.extend([[tgt_token] if tgt_token else []] * len(encoded))
        if not rows:
            return {t: [] for t in targets}
        prefix_len = len(prefixes[0])
        kwargs: dict[str, Any] = {
            "beam_size": self.options.beam_size,
            "max_decoding_length": self.options.max_new_for(max(map(len, encoded))) + prefix_len,
            "min_decoding_length": self.options.min_new_tokens + prefix_len,
            "max_batch_size": 0,
        }
        if prefix_len:
            kwargs["target_prefix"] = prefixes
        if cancel is not None and self.options.beam_size == 1:
            # Called after every generated token (greedy only); True stops the batch.
            kwargs["callback"] = lambda _step: cancel()
        results = self._translator.translate_batch(rows, **kwargs)
        out: dict[str, list[list[str]]] = {}
        for i, target in enumerate(targets):
            chunk = results[i * len(texts) : (i + 1) * len(texts)]
            out[target] = [list(r.hypotheses[0]) for r in chunk]
        return out

    def translate_batch(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[str]]:
        tokens = self.translate_tokens(texts, source, targets, cancel)
        skip = 0 if self.info.family == "marian" else 1
        return {t: [self.detokenize(hyp[skip:]) for hyp in hyps] for t, hyps in tokens.items()}

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Target pieces to text, dropping special and language tokens."""
        kept = [t for t in tokens if t not in _SPECIALS and not NON_TEXT_TOKEN_RE.match(t)]
        return str(self._sp_target.decode_pieces(kept)).strip()


def _marian_normalizer(info: ModelInfo) -> Callable[[str], str] | None:
    """Moses punctuation normalization, as transformers' MarianTokenizer applies it."""
    try:
        from sacremoses import MosesPunctNormalizer
    except ImportError:
        log.warning("sacremoses is not installed: Marian input is not punctuation-normalized")
        return None
    normalize: Callable[[str], str] = MosesPunctNormalizer(
        language_from_flores(info.source or "").code
    ).normalize
    return normalize
