"""Random-weight checkpoints of the real architectures, for tests and benchmarks.

No NLLB/M2M/Marian weights can be installed from a package registry, so tests and the
speed benchmark build their own: the real model classes (M2M100ForConditionalGeneration
for NLLB, MarianMTModel) with random weights and a real SentencePiece tokenizer trained
on a few hundred lines of text, carrying the language tokens the real models use.
They are saved in Hugging Face format, exactly like a hub download, so they go
through the same loading and conversion code. Their output is gibberish: they test
plumbing and measure speed (which does not depend on the weights once the output
length is fixed), never quality.

Needs transformers, torch and sentencepiece (``livetrans[mt]``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dims:
    """Transformer sizes of a synthetic checkpoint."""

    d_model: int = 32
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    ffn: int = 64
    vocab_size: int | None = None  # None: the tokenizer's size; larger pads like real NLLB
    init_std: float = 0.5  # large, so random outputs depend on the input and the target


TINY = Dims()
# facebook/nllb-200-distilled-600M's config.json
NLLB_600M = Dims(d_model=1024, encoder_layers=12, decoder_layers=12, heads=16, ffn=4096,
                 vocab_size=256206, init_std=0.02)
# Helsinki-NLP/opus-mt-en-es's config.json (the largest vocabulary of en-es, en-fr, en-de)
OPUS_MT = Dims(d_model=512, encoder_layers=6, decoder_layers=6, heads=8, ffn=2048,
               vocab_size=65001, init_std=0.02)


def _as_kwargs(**kwargs: Any) -> dict[str, Any]:
    return kwargs  # config classes take extra keys (tokenizer_class) their stubs omit


def train_sentencepiece(
    lines: Sequence[str], prefix: Path, *, vocab_size: int, model_type: str = "bpe"
) -> Path:
    """Train a SentencePiece model on ``lines``; the ``.model`` file it wrote."""
    import sentencepiece as spm

    prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=0.9995,
        minloglevel=2,
        hard_vocab_limit=False,  # a small corpus may not fill vocab_size
    )
    return prefix.with_suffix(".model")


def build_nllb_checkpoint(
    path: Path,
    lines: Sequence[str],
    *,
    dims: Dims = TINY,
    spm_vocab_size: int = 2000,
    seed: int = 0,
) -> Path:
    """An NLLB-style checkpoint (M2M100 architecture, NllbTokenizer with the 202
    FLORES-200 language tokens) in ``path``, as the hub repo lays it out."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    path.mkdir(parents=True, exist_ok=True)
    train_sentencepiece(lines, path / "sentencepiece.bpe", vocab_size=spm_vocab_size)
    (path / "sentencepiece.bpe.vocab").unlink(missing_ok=True)
    tokenizer = NllbTokenizer.from_pretrained(str(path))
    tokenizer.add_tokens(list(FAIRSEQ_LANGUAGE_CODES), special_tokens=True)
    torch.manual_seed(seed)
    config = M2M100Config(**_as_kwargs(
        vocab_size=dims.vocab_size or len(tokenizer),
        d_model=dims.d_model,
        encoder_layers=dims.encoder_layers,
        decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.heads,
        decoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn,
        decoder_ffn_dim=dims.ffn,
        max_position_embeddings=1024,
        init_std=dims.init_std,
        scale_embedding=True,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        tokenizer_class="NllbTokenizer",
    ))
    model: Any = M2M100ForConditionalGeneration(config)
    model.eval()
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    log.info("built a random NLLB checkpoint (%d parameters) in %s",
             sum(p.numel() for p in model.parameters()), path)
    return path


def build_m2m100_checkpoint(
    path: Path,
    lines: Sequence[str],
    *,
    dims: Dims = TINY,
    spm_vocab_size: int = 2000,
    seed: int = 0,
) -> Path:
    """An M2M-100-style checkpoint (M2M100Tokenizer: sentencepiece.bpe.model + vocab.json,
    its 100 __xx__ language tokens and 8 filler words after the vocabulary) in ``path``."""
    import sentencepiece as spm
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    path.mkdir(parents=True, exist_ok=True)
    train_sentencepiece(lines, path / "sentencepiece.bpe", vocab_size=spm_vocab_size)
    (path / "sentencepiece.bpe.vocab").unlink(missing_ok=True)
    sp = spm.SentencePieceProcessor(model_file=str(path / "sentencepiece.bpe.model"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = M2M100Tokenizer(str(path / "vocab.json"), str(path / "sentencepiece.bpe.model"))
    torch.manual_seed(seed)
    config = M2M100Config(**_as_kwargs(
        vocab_size=dims.vocab_size or len(vocab) + len(tokenizer.lang_token_to_id) + 8,
        d_model=dims.d_model,
        encoder_layers=dims.encoder_layers,
        decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.heads,
        decoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn,
        decoder_ffn_dim=dims.ffn,
        max_position_embeddings=1024,
        init_std=dims.init_std,
        scale_embedding=True,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
    ))
    model: Any = M2M100ForConditionalGeneration(config)
    model.eval()
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def build_marian_checkpoint(
    path: Path,
    source_lines: Sequence[str],
    target_lines: Sequence[str],
    *,
    source_lang: str,
    target_lang: str,
    dims: Dims = TINY,
    spm_vocab_size: int = 1600,
    seed: int = 0,
) -> Path:
    """An opus-mt-style Marian checkpoint (source.spm, target.spm, joint vocab.json
    with </s> first and <pad> last) for one language pair, in ``path``."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    path.mkdir(parents=True, exist_ok=True)
    for name, lines in (("source", source_lines), ("target", target_lines)):
        model_file = train_sentencepiece(lines, path / name, vocab_size=spm_vocab_size,
                                         model_type="unigram")
        model_file.rename(path / f"{name}.spm")
        (path / f"{name}.vocab").unlink(missing_ok=True)
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for name in ("source", "target"):
        sp = spm.SentencePieceProcessor(model_file=str(path / f"{name}.spm"))
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in ("<unk>", "<s>", "</s>"):
                vocab.setdefault(piece, len(vocab))
    if dims.vocab_size is not None:  # filler words up to the real model's size, as NLLB's
        while len(vocab) < dims.vocab_size - 1:
            vocab[f"madeupword{len(vocab)}"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        str(path / "source.spm"), str(path / "target.spm"), str(path / "vocab.json"),
        source_lang=source_lang, target_lang=target_lang,
    )
    torch.manual_seed(seed)
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=dims.d_model,
        encoder_layers=dims.encoder_layers,
        decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.heads,
        decoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn,
        decoder_ffn_dim=dims.ffn,
        max_position_embeddings=512,
        init_std=dims.init_std,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        share_encoder_decoder_embeddings=True,
    )
    model: Any = MarianMTModel(config)
    model.eval()
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


def build_random_nllb(path: Path, lines: Sequence[str], *, dims: Dims = NLLB_600M) -> Path:
    """The full-size NLLB-200-distilled-600M architecture with random weights (for speed
    measurements: about 2.5 GB on disk in float32, a minute or two to build on 2 cores)."""
    return build_nllb_checkpoint(path, lines, dims=dims, spm_vocab_size=4000)
