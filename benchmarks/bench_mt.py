"""Translation speed on the full-size NLLB-200-distilled-600M architecture (random weights).

    python benchmarks/bench_mt.py OUT.json [--work DIR] [--threads 2] [--repeats 7]

Builds the real architecture (M2M100, d_model 1024, 12+12 layers, 16 heads, FFN 4096,
vocabulary 256206) with random weights, once, in ``--work`` (about 3.2 GB with the
int8 conversion), converts it to CTranslate2 int8 through the same code a user's
download goes through, and measures milliseconds per 20-token sentence into 1 and 3
targets, with the output length fixed to 20 tokens (min = max), for both engines.
Decoding cost depends on the architecture and the output length, not on the weights,
so these are the speeds of the real model; translation *quality* is not measured.
The same is measured for one opus-mt model per pair (the opus-mt-en-es architecture,
random weights, one model per target, routed as ``--mt-model a,b,c`` routes them).

For the end-to-end translated-caption latency (word end → translation emitted, with
recognition running), reuse :func:`prepare_random_nllb` and :func:`fixed_length_options`
and load with ``livetrans.mt.load_translator(path, options=fixed_length_options(20))``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLORES = ROOT / "samples" / "mt" / "testsets" / "flores"
SOURCE_TOKENS = 20
TARGET_SETS = (("es",), ("es", "fr", "de"))

log = logging.getLogger("bench_mt")


def corpus_lines(per_language: int = 400) -> list[str]:
    """Text for the benchmark tokenizer: the bundled FLORES dev sentences."""
    return [
        line
        for lang in ("en", "es", "zh", "de", "fr", "pt")
        for line in (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:per_language]
    ]


def prepare_random_nllb(work: Path) -> Path:
    """The random-weight NLLB-200-distilled-600M checkpoint in ``work`` (built once)."""
    from livetrans.mt.synthetic import build_random_nllb

    path = work / "nllb-200-distilled-600M-random"
    if not (path / "config.json").is_file():
        started = time.perf_counter()
        build_random_nllb(path, corpus_lines())
        log.info("built %s in %.0f s", path, time.perf_counter() - started)
    return path


def prepare_random_opus_mt(work: Path, source: str, target: str) -> Path:
    """A random-weight opus-mt checkpoint for one pair, at the real size (6 + 6 layers of
    width 512, a 65 001-token vocabulary, as Helsinki-NLP/opus-mt-en-es), built once."""
    from livetrans.mt.synthetic import OPUS_MT, build_marian_checkpoint

    path = work / f"opus-mt-{source}-{target}-random"
    if not (path / "config.json").is_file():
        lines = {lang: (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:400] for lang in (source, target)}
        build_marian_checkpoint(path, lines[source], lines[target], source_lang=source, target_lang=target,
                                dims=OPUS_MT, spm_vocab_size=4000)
    return path


def fixed_length_options(tokens: int) -> Any:
    """Decode exactly ``tokens`` output tokens after the language token (greedy)."""
    from livetrans.mt import DecodeOptions

    return DecodeOptions(beam_size=1, max_new_tokens=tokens, min_new_tokens=tokens)


def source_sentence(checkpoint: Path, tokens: int = SOURCE_TOKENS) -> str:
    """An English sentence that the checkpoint's tokenizer splits into ``tokens`` pieces."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(checkpoint / "sentencepiece.bpe.model"))
    for line in (FLORES / "flores-dev.en").read_text("utf-8").splitlines():
        pieces = sp.encode(line, out_type=str)
        if len(pieces) >= tokens:
            text = str(sp.decode_pieces(pieces[:tokens]))
            if len(sp.encode(text)) == tokens:
                return text
    raise RuntimeError(f"no sentence of {tokens} tokens in the FLORES sample")


def measure(translator: Any, text: str, targets: tuple[str, ...], repeats: int) -> dict[str, Any]:
    rows = translator.translate_tokens([text], "en", list(targets))  # warm-up, and length check
    lengths = sorted({len(r) - 1 for hyps in rows.values() for r in hyps})
    return _timed(translator, text, targets, repeats, lengths)


def measure_per_pair(router: Any, text: str, targets: tuple[str, ...], repeats: int) -> dict[str, Any]:
    """As :func:`measure`, for a ModelPerPair of opus-mt models (no language token)."""
    from livetrans.mt.languages import language_from_flores

    lengths: set[int] = set()
    for translator in router.translators:
        target = language_from_flores(translator.info.target).code
        if target in targets:
            lengths.update(len(r) for r in translator.translate_tokens([text], "en", [target])[target])
    return _timed(router, text, targets, repeats, sorted(lengths))


def _timed(translator: Any, text: str, targets: tuple[str, ...], repeats: int, lengths: list[int]) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        translator.translate_batch([text], "en", list(targets))
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    return {
        "targets": list(targets),
        "output_tokens": lengths,
        "ms_per_call_median": round(median, 1),
        "ms_per_call_min": round(min(times), 1),
        "ms_per_call_max": round(max(times), 1),
        "ms_per_target_sentence": round(median / len(targets), 1),
        "repeats": repeats,
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(out: Path, work: Path, threads: int, repeats: int, engines: list[str]) -> dict[str, Any]:
    os.environ["LIVETRANS_CACHE_DIR"] = str(work / "cache")  # the conversion lands here
    from livetrans.mt import ModelPerPair, load_translator

    checkpoint = prepare_random_nllb(work)
    text = source_sentence(checkpoint)
    options = fixed_length_options(SOURCE_TOKENS)
    report: dict[str, Any] = {
        "model": "NLLB-200-distilled-600M architecture, random weights",
        "source_sentence": text,
        "source_tokens": SOURCE_TOKENS,
        "output_tokens_fixed": SOURCE_TOKENS,
        "threads": threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "ct2_force_cpu_isa": os.environ.get("CT2_FORCE_CPU_ISA"),
                    "load_average_start": _load_average()},
        "quality_measured": False,
        "results": [],
    }
    for engine in engines:
        started = time.perf_counter()
        if engine == "ctranslate2":
            translator = load_translator(checkpoint, quantization="int8", compute_type="int8",
                                         inter_threads=1, intra_threads=threads, options=options)
            label = "ctranslate2 int8"
        else:
            translator = load_translator(checkpoint, engine="transformers",
                                         intra_threads=threads, options=options)
            label = "transformers float32"
        load_s = time.perf_counter() - started
        for targets in TARGET_SETS:
            result = measure(translator, text, targets, repeats if engine == "ctranslate2" else max(2, repeats // 2))
            result.update(engine=label, load_s=round(load_s, 1))
            report["results"].append(result)
            print(f"{label:22s} {len(targets)} target(s): {result['ms_per_call_median']:8.1f} ms/call"
                  f" ({result['ms_per_target_sentence']:.1f} ms per target sentence;"
                  f" min {result['ms_per_call_min']:.1f}, max {result['ms_per_call_max']:.1f};"
                  f" output {result['output_tokens']} tokens)", flush=True)
        del translator
        if engine == "ctranslate2":
            pairs = ModelPerPair([
                load_translator(prepare_random_opus_mt(work, "en", target), quantization="int8", compute_type="int8",
                                inter_threads=1, intra_threads=threads, options=options)
                for target in TARGET_SETS[-1]
            ])
            for targets in TARGET_SETS:
                result = measure_per_pair(pairs, text, targets, repeats)
                result.update(engine="ctranslate2 int8, one opus-mt model per pair")
                report["results"].append(result)
                print(f"{'opus-mt per pair':22s} {len(targets)} target(s): {result['ms_per_call_median']:8.1f} ms/call"
                      f" ({result['ms_per_target_sentence']:.1f} ms per target sentence)", flush=True)
    report["machine"]["load_average_end"] = _load_average()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSON report to write")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "livetrans" / "bench-mt",
                        help="where the random checkpoint and its conversion are kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--engines", default="ctranslate2,transformers")
    parser.add_argument("--ct2-isa", choices=["AVX2", "AVX512"],
                        help="set CT2_FORCE_CPU_ISA (CTranslate2 picks AVX2 on AMD CPUs with AVX-512)")
    args = parser.parse_args(argv)
    if args.ct2_isa:
        os.environ["CT2_FORCE_CPU_ISA"] = args.ct2_isa  # before ctranslate2 is imported
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(args.out, args.work, args.threads, args.repeats, args.engines.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
