"""Translation yields the CPU to recognition: the model computes in nicer threads."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from livetrans.pipeline import TRANSLATION_NICENESS, PipelineConfig, load_config_translator


def niceness() -> dict[int, int]:
    """Every thread of this process: its nice value (from /proc)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        out[int(tid)] = int(stat.rsplit(")", 1)[1].split()[16])  # field 19: nice
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="the nice value belongs to a thread on Linux only")
def test_the_translation_model_computes_in_threads_nicer_than_the_callers(nllb_dir: Path) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = niceness()
    translator = load_config_translator(PipelineConfig(mt_model=str(nllb_dir), targets=("es",)))
    assert translator.translate_batch(["Hello there"], "en", ["es"])["es"][0]
    started = {tid: nice for tid, nice in niceness().items() if tid not in before}
    assert started, "the model started no thread of its own"
    assert set(started.values()) == {mine + TRANSLATION_NICENESS}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's is unchanged
