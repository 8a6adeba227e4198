"""Session fixtures: tiny random checkpoints of the real NLLB and Marian architectures.

Built once per session with a SentencePiece model trained on the bundled FLORES dev
sentences; nothing is downloaded. Every test runs with LIVETRANS_CACHE_DIR in a
temporary folder, so conversions land there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FLORES = Path(__file__).resolve().parents[2] / "samples" / "mt" / "testsets" / "flores"


def flores_lines(lang: str, n: int = 200) -> list[str]:
    return (FLORES / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:n]


@pytest.fixture(scope="session", autouse=True)
def mt_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("livetrans-cache")
    saved = {k: os.environ.get(k) for k in ("LIVETRANS_CACHE_DIR", "HF_HUB_OFFLINE", "HF_ENDPOINT")}
    os.environ["LIVETRANS_CACHE_DIR"] = str(cache)
    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # closed port: any hub access fails fast
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
