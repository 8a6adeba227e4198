"""The per-stream journal on disk: JSONL of every durable event, for resume.

Format (docs/protocol.md, "Journal"): one file ``<dir>/<stream>.jsonl``; each
line is one JSON object. Durable events are written exactly as viewers receive
them (``event_to_dict``: they carry ``seq``); two markers carry no seq:

    {"type":"session","stream":...,"seq_base":N,"source_lang":...,"languages":[...],"started_at":UNIX}
    {"type":"end","stream":...,"last_seq":N,"reason":...}

Durability: every line is written with one ``write(2)`` on an ``O_APPEND`` file
as soon as the event is published, so a crash of the *process* loses nothing.
``fsync`` runs at most every ``fsync_interval`` seconds (group commit, off the
event loop) and at every session end, so a power failure loses at most the
last ``fsync_interval`` seconds. ``fsync_interval=0`` syncs after every line.
A torn last line (power loss mid-write) is cut off when the journal is opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"


@dataclass
class JournalState:
    """What a journal says about its stream when the server starts."""

    last_seq: int = 0
    source_lang: str | None = None
    languages: list[str] = field(default_factory=list)
    sessions: int = 0


class StreamJournal:
    def __init__(self, path: Path, fsync_interval: float = 1.0) -> None:
        self.path = path
        self.fsync_interval = fsync_interval
        self._lock = threading.Lock()  # appends (on the event loop): never held during fsync
        self._sync_lock = threading.Lock()  # sync and close: the fd stays open while it syncs
        self._dirty = False
        self._last_sync = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_torn_tail()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            keep = data.rfind(b"\n") + 1
            logger.warning("journal %s: cutting a torn last line (%d bytes)", self.path, len(data) - keep)
            f.truncate(keep)

    def read_state(self) -> JournalState:
        state = JournalState()
        for record in self.records():
            seq = record.get("seq")
            if isinstance(seq, int) and record.get("type") != "end":
                state.last_seq = max(state.last_seq, seq)
            elif record.get("type") == "session":
                state.sessions += 1
                state.source_lang = record.get("source_lang")
                state.languages = list(record.get("languages") or [])
        return state

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record, oldest first; unreadable lines are logged and skipped."""
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break  # being written right now
                try:
                    record = json.loads(line)
                except ValueError:
                    logger.warning("journal %s line %d: not JSON, skipped", self.path, number)
                    continue
                if isinstance(record, dict):
                    yield record

    def read_since(self, since: int, upto: int) -> list[tuple[int, dict[str, Any], bytes]]:
        """Durable events with since < seq <= upto as (seq, record, line without newline)."""
        out: list[tuple[int, dict[str, Any], bytes]] = []
        seen: set[int] = set()
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return out
        with f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict) or record.get("type") in ("session", "end"):
                    continue
                seq = record.get("seq")
                if not isinstance(seq, int):
                    continue
                if since < seq <= upto and seq not in seen:
                    seen.add(seq)
                    out.append((seq, record, line.rstrip(b"\n")))
        out.sort(key=lambda r: r[0])
        return out

    def append(self, line: bytes) -> None:
        """Write one record line (no trailing newline) with a single write(2)."""
        data = line + b"\n"
        with self._lock:
            if self._fd < 0:
                raise RuntimeError(f"journal {self.path} is closed")
            written = os.write(self._fd, data)
            while written < len(data):  # a short write on a full disk; finish or raise
                written += os.write(self._fd, data[written:])
            self._dirty = True
        if self.fsync_interval <= 0:
            self.sync()

    def append_record(self, record: dict[str, Any]) -> None:
        self.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    def sync_due(self) -> bool:
        return self._dirty and time.monotonic() - self._last_sync >= self.fsync_interval

    def sync(self) -> None:
        """fdatasync if anything was written since the last sync (blocking: run off the loop)."""
        with self._sync_lock:
            with self._lock:
                if not self._dirty or self._fd < 0:
                    return
                self._dirty = False
                fd = self._fd
            os.fdatasync(fd)
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        with self._sync_lock, self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def journal_path(directory: Path, stream: str) -> Path:
    return directory / f"{stream}{SUFFIX}"


def known_streams(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in directory.glob(f"*{SUFFIX}") if p.is_file())


async def sync_journals(journals: Mapping[str, StreamJournal], fsync_interval: float) -> None:
    """Forever: every ``fsync_interval`` s, fsync the journals that wrote since (in a thread)."""
    interval = max(fsync_interval, 0.05)
    while True:
        await asyncio.sleep(interval)  # a periodic timer, not synchronisation
        for journal in list(journals.values()):
            if journal.sync_due():
                await asyncio.to_thread(journal.sync)


def log_sync_failure(future: asyncio.Future[None]) -> None:
    """A done-callback for a journal's fsync run in a thread: log its failure."""
    if not future.cancelled() and future.exception() is not None:
        logger.error("journal fsync failed: %s", future.exception())
