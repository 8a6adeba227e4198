"""Shared fixtures: the real speech models (loaded once a session) and the samples."""

from __future__ import annotations

import pytest
from speech_testkit import SAMPLES

from livetrans.evaluation.conditions import Clip, read_manifest
from livetrans.pipeline import PipelineConfig, SpeechModels


@pytest.fixture(scope="session")
def base_models() -> SpeechModels:
    """Multilingual Whisper base (int8, CPU) from its PyPI packages, and Silero VAD."""
    return SpeechModels.load(PipelineConfig(model="base"), progress=False)


@pytest.fixture(scope="session")
def speech_clips() -> list[Clip]:
    return [c for c in read_manifest(SAMPLES) if c.path.parent.parent.name == "speech"]
