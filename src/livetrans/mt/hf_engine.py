"""The reference engine: transformers + torch on CPU, loading the checkpoint unconverted.

Slower than CTranslate2; it exists to check the fast engine (same checkpoint, same
greedy decoding, same output) and for models CTranslate2 cannot convert. One
``generate`` call covers every text × target: each row's decoder starts with
``[decoder_start, target-language token]``, which is what ``forced_bos_token_id``
does for a single target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import NON_TEXT_TOKEN_RE, DecodeOptions, ModelInfo, check_pairs
from .languages import resolve_language

log = logging.getLogger(__name__)


class TransformersTranslator:
    """Translates with a Hugging Face checkpoint folder (AutoModelForSeq2SeqLM)."""

    def __init__(
        self,
        model_dir: Path,
        info: ModelInfo,
        *,
        threads: int = 2,
        options: DecodeOptions = DecodeOptions(),
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as e:
            raise ModelError(
                "the transformers engine needs torch and transformers:"
                " pip install 'livetrans[mt]' (or use the ctranslate2 engine)"
            ) from e
        self.info = info
        self.options = options
        self._torch = torch
        torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        try:
            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
            self._model: Any = AutoModelForSeq2SeqLM.from_pretrained(
                str(model_dir), dtype=torch.float32
            ).eval()
        except (OSError, ValueError, RuntimeError) as e:
            raise ModelError(
                f"cannot load the checkpoint in {model_dir}: {e}".splitlines()[0]
                + " (download it again)"
            ) from e
        config = self._model.config
        self._decoder_start = int(config.decoder_start_token_id)
        self._eos = int(config.eos_token_id)
        self._pad = int(config.pad_token_id)
        # Replace the checkpoint's generation defaults (beam 5, forced EOS at the length
        # limit...): generate() merges them into any config we pass, changing the decode.
        self._model.generation_config = _generation_config(
            decoder_start_token_id=self._decoder_start, eos_token_id=self._eos, pad_token_id=self._pad
        )
        log.info("transformers %s model %s on cpu (float32, %d threads)", info.family, info.name, threads)

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return (self.info,)

    def check_pairs(self, source: str | None, targets: Sequence[str]) -> None:
        check_pairs(self.info, source, targets)

    def _lang_id(self, code: str) -> int | None:
        if self.info.family == "marian":
            return None
        token = self.info.model_code(resolve_language(code))
        return int(self._tokenizer.convert_tokens_to_ids(token))

    def _encode(self, texts: Sequence[str], source: str) -> Any:
        if self.info.family == "nllb":
            self._tokenizer.src_lang = self.info.model_code(resolve_language(source))
        elif self.info.family == "m2m100":  # M2M100Tokenizer takes "en", not "__en__"
            self._tokenizer.src_lang = resolve_language(source).m2m
        limit = self.options.max_input_tokens + 2  # + language token and </s>
        return self._tokenizer(
            list(texts), return_tensors="pt", padding=True, truncation=True, max_length=limit
        )

    def translate_ids(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[list[int]]]:
        """Output ids per target and text (decoder start dropped, language token first)."""
        self.check_pairs(source, targets)
        if not texts or not targets:
            return {t: [] for t in targets}
        torch = self._torch
        enc = self._encode(texts, source)
        n_targets = len(targets)
        inputs = {
            "input_ids": enc["input_ids"].repeat(n_targets, 1),
            "attention_mask": enc["attention_mask"].repeat(n_targets, 1),
        }
        lang_ids = [self._lang_id(t) for t in targets]
        prefix_len = 0
        if lang_ids[0] is not None:
            starts = [[self._decoder_start, lid] for lid in lang_ids for _ in texts]
            inputs["decoder_input_ids"] = torch.tensor(starts, dtype=torch.long)
            prefix_len = 1
        generation = _generation_config(
            decoder_start_token_id=self._decoder_start,
            eos_token_id=self._eos,
            pad_token_id=self._pad,
            num_beams=self.options.beam_size,
            do_sample=False,
            max_new_tokens=self.options.max_new_for(int(enc["input_ids"].shape[1])),
            min_new_tokens=self.options.min_new_tokens,
            # Marian's <pad> starts the decoder but is never an output (CTranslate2 drops it).
            suppress_tokens=[self._pad] if self.info.family == "marian" else None,
        )
        stopping = _cancel_criteria(cancel) if cancel is not None else None
        with torch.inference_mode():
            out = self._model.generate(**inputs, generation_config=generation, stopping_criteria=stopping)
        ids = out[:, 1:].tolist()  # drop the decoder start
        result: dict[str, list[list[int]]] = {}
        for i, target in enumerate(targets):
            rows = ids[i * len(texts) : (i + 1) * len(texts)]
            result[target] = [self._trim(row, prefix_len) for row in rows]
        return result

    def _trim(self, row: list[int], prefix_len: int) -> list[int]:
        body = row[prefix_len:]
        if self._eos in body:
            body = body[: body.index(self._eos)]
        return row[:prefix_len] + [t for t in body if t != self._pad]

    def translate_tokens(
        self, texts: Sequence[str], source: str, targets: Sequence[str]
    ) -> dict[str, list[list[str]]]:
        """Output tokens per target and text, the forced target-language token first."""
        ids = self.translate_ids(texts, source, targets)
        conv = self._tokenizer.convert_ids_to_tokens
        return {t: [list(conv(row)) for row in rows] for t, rows in ids.items()}

    def translate_batch(
        self,
        texts: Sequence[str],
        source: str,
        targets: Sequence[str],
        cancel: Callable[[], bool] | None = None,
    ) -> dict[str, list[str]]:
        ids = self.translate_ids(texts, source, targets, cancel)
        skip = 0 if self.info.family == "marian" else 1
        conv = self._tokenizer.convert_ids_to_tokens
        decode = self._tokenizer.batch_decode
        out: dict[str, list[str]] = {}
        for target, rows in ids.items():
            # M2M100Tokenizer does not count its language tokens as special: drop them here.
            kept = [[i for i in row[skip:] if not NON_TEXT_TOKEN_RE.match(conv(i))] for row in rows]
            out[target] = [s.strip() for s in decode(kept, skip_special_tokens=True)] if kept else []
        return out


def _cancel_criteria(cancel: Callable[[], bool]) -> Any:
    """Stopping criteria for ``generate`` that end every row once ``cancel()`` is True."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), bool(cancel()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Cancel()])


def _generation_config(**kwargs: Any) -> Any:
    from transformers import GenerationConfig

    make: Any = GenerationConfig  # untyped in transformers
    return make(**kwargs)
