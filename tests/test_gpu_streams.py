"""benchmarks/gpu_streams.sh: its CPU dry run end to end, the float16 check where CUDA is,
and the pure parts (the large-v3 vocabulary layout, the word error rate)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from livetrans.models.speech import resolve_whisper_model

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gpu_streams", ROOT / "benchmarks" / "bench_gpu_streams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _bench()


def _cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


@pytest.fixture(scope="module")
def tiny_en_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.en as it travels to a GPU machine: int8 weights."""
    return Path(bench.quantize_whisper_int8(resolve_whisper_model("tiny.en", download=False), tmp_path_factory.mktemp("tiny") / "tiny.en-int8"))


@pytest.mark.slow
def test_the_cpu_dry_run_reports_a_row_per_stream_count(tmp_path: Path, tiny_en_int8: Path) -> None:
    """The script's whole path on a tiny random Whisper: the check passes (CPU against CPU),
    and each N has a run of N streams with fixed-length decodes and sane figures."""
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path), "GPU_STREAMS_SITE": str(tmp_path / "site"),
           "GPU_STREAMS_WORK": str(tmp_path / "work")}  # fmt: skip
    done = subprocess.run(
        ["bash", "benchmarks/gpu_streams.sh", "--device", "cpu", "--dims", "tiny", "--streams", "1,2",
         "--seconds", "6", "--max-batch", "4", "--check-clips", "2", "--tiny-en", str(tiny_en_int8)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu-streams.json").read_text("utf-8"))
    assert report["check"]["passed"] and report["check"]["wer_device_vs_cpu"] <= 0.05
    assert [r["streams"] for r in report["runs"]] == [1, 2] and not report["skipped"]
    for run in report["runs"]:
        assert run["keeps_up"] and run["failed_batches"] == 0
        assert run["text_tokens_per_decode"] == bench.TOKENS_PER_DECODE
        assert 0.5 <= run["decodes_per_audio_second"] <= 4  # a decode per 0.5 s of speech, give or take
        assert 1 <= run["mean_batch"] <= run["streams"] and 0 < run["model_busy"] < 1
        assert 0 < run["rtf_median"] <= run["rtf_max"] < 1 and run["batch_ms_p50"] > 0
        assert set(run["phase_ms_per_batch"]) == {"features", "encode", "generate", "align"}
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 1 | 4 |", "| 2 | 4 |"))]
    assert len(rows) == 2, done.stdout


@pytest.mark.slow
@pytest.mark.skipif(_cuda_devices() == 0, reason="no CUDA device for CTranslate2")
def test_tiny_en_in_float16_on_the_gpu_writes_what_the_cpu_writes_in_int8(tiny_en_int8: Path) -> None:
    check = bench.float16_check(tiny_en_int8, "cuda", bench.bundled_clips("en")[:3])
    assert check["passed"], check
    assert check["wer_device_vs_cpu"] <= bench.ABSURD_WER and check["compute_type"] == "float16"


def test_the_random_model_has_large_v3s_token_layout() -> None:
    """tiny.en's tokenizer re-laid: 51,866 ids, <|yue|> after <|su|>, the specials where large-v3 has them."""
    tiny = resolve_whisper_model("tiny.en", download=False)
    english = json.loads((tiny / "tokenizer.json").read_text("utf-8"))
    config = json.loads((tiny / "config.json").read_text("utf-8"))
    tokenizer, tokens, ct2_config = bench.large_v3_vocabulary(english, config)
    assert len(tokens) == 51866 and tokens[-1] == "<|30.00|>" and tokens[50256] == ""
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    expected = {"<|endoftext|>": 50257, "<|startoftranscript|>": 50258, "<|en|>": 50259, "<|yue|>": 50358,
                "<|translate|>": 50359, "<|notimestamps|>": 50364}  # fmt: skip
    assert {k: ids[k] for k in expected} == expected and all(tokens[i] == k for k, i in expected.items())
    assert ct2_config["lang_ids"] == list(range(50259, 50359))
    assert tokens[: english["model"]["vocab"]["<|endoftext|>"]] == sorted(english["model"]["vocab"], key=english["model"]["vocab"].get)[:-1]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "wer"),
    [
        ("the cat sat", "the cat sat", 0.0),
        ("the cat sat", "the bat sat", 1 / 3),
        ("the cat sat", "the cat sat down", 1 / 3),
        ("the cat sat", "", 1.0),
        ("", "words", 1.0),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, wer: float) -> None:
    assert bench.word_error_rate(reference.split(), hypothesis.split()) == pytest.approx(wer)
