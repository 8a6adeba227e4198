"""Session fixtures for the server tests: the real speech models, loaded once."""

from __future__ import annotations

import pytest

from livetrans.pipeline import SpeechModels

from server_testkit import INGEST_MODEL


@pytest.fixture(scope="session")
def speech_models() -> SpeechModels:
    return SpeechModels.load(INGEST_MODEL, progress=False)
