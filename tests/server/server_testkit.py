"""Shared helpers for the caption server tests: real servers on port 0, real clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livetrans.pipeline import PipelineConfig, SpeechModels
from livetrans.types import CaptionEvent, SentenceEvent, TranslationEvent, Word

T = TypeVar("T")

# tiny.en installs from PyPI with the project's model extras and loads fastest on CPU.
INGEST_MODEL = PipelineConfig(model="tiny.en", language="en")



@pytest.fixture(scope="session")
def speech_models() -> SpeechModels:
    """The real speech models, loaded once a session (import this fixture into a test module)."""
    return SpeechModels.load(INGEST_MODEL, progress=False)


TEST_TIMEOUT = 60.0  # seconds: a hung test fails instead of blocking CI


def run(coro: Awaitable[T], timeout: float = TEST_TIMEOUT) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def caption(kind: str, n: int, seq: int, text: str = "", lang: str = "en") -> CaptionEvent:
    text = text or f" word{n}"
    return CaptionEvent(
        kind=kind,  # type: ignore[arg-type]
        id=f"c{n}",
        start=float(n),
        end=float(n) + 0.5,
        text=text,
        lang=lang,
        words=(Word(float(n), float(n) + 0.5, text),) if kind == "final" else (),
        sentence_id=f"s{n}",
        seq=seq,
        emitted_at=float(n) + 1.0,
    )


def sentence(n: int, seq: int, lang: str = "en") -> SentenceEvent:
    return SentenceEvent(id=f"s{n}", start=float(n), end=float(n) + 0.5, text=f" word{n}.", lang=lang,
                         caption_ids=(f"c{n}",), seq=seq, emitted_at=float(n) + 1.2)


def translation(n: int, seq: int, lang: str, text: str = "", kind: str = "final") -> TranslationEvent:
    return TranslationEvent(id=f"s{n}", lang=lang, source_lang="en", text=text or f"{lang}-palabra{n}.",
                            start=float(n), end=float(n) + 0.5, seq=seq, emitted_at=float(n) + 1.5,
                            kind=kind)  # type: ignore[arg-type]


@dataclass
class Received:
    """What one client saw: messages in order, and how the connection closed."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] in types]

    def durable_seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages if m["type"] in ("sentence", "translation", "caption")
                and m.get("kind") != "partial"]


async def open_viewer(url: str, **kwargs: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and wait for hello: after it, the viewer is registered for live events."""
    ws = await connect(url, **kwargs)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws, hello


async def collect(ws: ClientConnection, received: Received | None = None) -> Received:
    """Read until the server closes the connection."""
    received = received or Received()
    try:
        async for message in ws:
            received.messages.append(json.loads(message))
    except ConnectionClosed:
        pass
    received.close_code = ws.close_code
    received.close_reason = ws.close_reason or ""
    return received


async def closed_with(url: str, **kwargs: Any) -> Received:
    """Connect and read everything until close (for clients the server turns away)."""
    async with connect(url, **kwargs) as ws:
        return await collect(ws)
