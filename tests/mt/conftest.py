"""Session fixtures: tiny random checkpoints of the real NLLB and Marian architectures.

Built once per session with a SentencePiece model trained on the bundled FLORES dev
sentences; nothing is downloaded. Every test runs with LIVETRANS_CACHE_DIR in a
temporary folder, so conversions land there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

FLORES = Path(__file__).resolve().parents[2] / "samples" / "mt" / "testsets" / "flores"


def flores_lines(lang: str, n: int = 200) -> list[str]:
    return (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:n]


@pytest.fixture(scope="session")
def mt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("livetrans-cache")


@pytest.fixture(autouse=True)
def mt_env(mt_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Per test (so nothing leaks into other test folders): conversions go to the session's
    temporary cache, and any hub access hits a closed local port and fails at once."""
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(mt_cache))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield


@pytest.fixture(scope="session")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_nllb_checkpoint

    lines = [line for lang in ("en", "es", "zh", "de", "fr", "pt") for line in flores_lines(lang)]
    return build_nllb_checkpoint(tmp_path_factory.mktemp("ckpt") / "nllb-tiny", lines)


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_marian_checkpoint

    return build_marian_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "opus-mt-zh-en",
        flores_lines("zh"), flores_lines("en"), source_lang="zh", target_lang="en",
    )


@pytest.fixture(scope="session")
def m2m_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_m2m100_checkpoint

    lines = [line for lang in ("en", "es", "zh", "de") for line in flores_lines(lang)]
    return build_m2m100_checkpoint(tmp_path_factory.mktemp("ckpt") / "m2m-tiny", lines)
