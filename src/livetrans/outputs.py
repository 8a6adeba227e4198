"""Subtitle and event files, written so that nothing half-written is left behind.

The one I/O shell for output files. Files, in ``out_dir``:

    <base>.srt            the source captions, SubRip, in time order whatever the language
    <base>.vtt            the same in WebVTT, each cue's text in a <lang xx> span
    <base>.<lang>.srt     a translation's cues, SubRip, one file per target language
    <base>.<lang>.vtt     the same in WebVTT
    <base>.jsonl          every event written, one JSON object a line (docs/events.md)

The source captions are one file, as a viewer reads them: a speaker who switches
language, or an utterance detected as another language, stays in the one sequence
of cues. Its VTT cues carry their language (``<lang es>…</lang>``, a WebVTT span
that players and parsers take as markup, not text).

Everything goes first to hidden temporary files in ``out_dir`` itself
(``.<final name>.<random>.tmp``), so the final rename never crosses a file
system. ``commit()`` flushes them to disk and renames each into place with
``os.replace`` (atomic per file; an existing file of the same name is replaced).
``abort()``, or an exception inside ``with OutputWriter(...)``, removes every
temporary file and any folder the writer created, leaving ``out_dir`` as it was.
A ``with`` block that ends normally commits.

Cues and events are written as they come (JSONL flushed line by line), so a
long live run holds none of them in memory. Files are UTF-8 with ``\\n`` line
ends; SRT players and parsers accept ``\\n`` as well as ``\\r\\n``.

The source files, and the files of target languages named up front, are always
written, empty ones included; a target first seen in ``write_cues`` gets them then.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

from .core.events import event_to_json
from .core.subtitles import SOURCE_WRITERS, WRITERS, SubtitleWriter
from .errors import LivetransError
from .types import Cue, Event

logger = logging.getLogger(__name__)

FORMATS = ("srt", "vtt", "jsonl")
_LANGUAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class _TempFile:
    """A hidden file beside ``final`` that becomes ``final`` on commit."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        # O_EXCL: never write into someone else's file; 0o666 so the umask applies
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as e:
            raise LivetransError(
                f"cannot write {final.name} in {final.parent}: {e.strerror}"
            ) from e
        self.file: TextIO = open(fd, "w", encoding="utf-8", newline="\n")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.path, self.final)

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class _SubtitleFile:
    """One language's cues in one format, numbered across calls."""

    def __init__(self, final: Path, writer: SubtitleWriter) -> None:
        self.temp = _TempFile(final)
        self.writer = writer
        self.count = 0  # cues written
        self.temp.file.write(writer.header)

    def write(self, cues: Iterable[Cue]) -> None:
        for cue in cues:
            block = self.writer.block(self.count + 1, cue)
            if block:
                self.temp.file.write(block)
                self.count += 1


def _check_base_name(name: str) -> str:
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise LivetransError(
            f"cannot name output files {name!r}: give a file name without a folder"
        )
    return name


def _check_language(lang: str) -> str:
    if not _LANGUAGE.fullmatch(lang):
        raise LivetransError(
            f"cannot name an output file for language {lang!r}: use a code like 'en' or 'zh-TW'"
        )
    return lang


class OutputWriter:
    """Writes the subtitle files and JSONL event log of one run; none is in place before commit.

    ``targets``: the translation languages whose files are written even if empty."""

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        base_name: str,
        formats: Iterable[str],
        targets: Iterable[str] = (),
    ) -> None:
        self.out_dir = Path(out_dir)
        self.base_name = _check_base_name(base_name)
        self.formats = tuple(dict.fromkeys(formats))
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise LivetransError(
                f"unknown output format {unknown[0]!r}: choose from {', '.join(FORMATS)}"
            )
        self._created_dirs = self._make_dirs()
        self._subtitles: dict[tuple[str | None, str], _SubtitleFile] = {}  # (target or None, format)
        self._jsonl: _TempFile | None = None
        self._state = "open"
        try:
            if "jsonl" in self.formats:
                self._jsonl = _TempFile(self.out_dir / f"{self.base_name}.jsonl")
            self._source = [self._file(None, fmt) for fmt in self.formats if fmt in WRITERS]
            for lang in targets:
                self._language(lang)
        except BaseException:
            self.abort()
            raise

    def _make_dirs(self) -> list[Path]:
        """Create ``out_dir`` and its missing parents; the ones created, deepest first."""
        missing = [p for p in (self.out_dir, *self.out_dir.parents) if not p.exists()]
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LivetransError(f"cannot create output folder {self.out_dir}: {e.strerror}") from e
        return missing

    def path(self, fmt: str, lang: str | None = None) -> Path:
        """Where the file of format ``fmt`` lands on commit: the source captions', or
        with ``lang`` the translation's into that language."""
        if fmt == "jsonl" or lang is None:
            return self.out_dir / f"{self.base_name}.{fmt}"
        return self.out_dir / f"{self.base_name}.{_check_language(lang)}.{fmt}"

    def _file(self, lang: str | None, fmt: str) -> _SubtitleFile:
        key = (lang, fmt)
        if key not in self._subtitles:
            writer = WRITERS[fmt] if lang is not None else SOURCE_WRITERS[fmt]
            self._subtitles[key] = _SubtitleFile(self.path(fmt, lang), writer)
        return self._subtitles[key]

    def _language(self, lang: str) -> list[_SubtitleFile]:
        return [self._file(lang, fmt) for fmt in self.formats if fmt in WRITERS]

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"OutputWriter for {self.base_name!r} is already {self._state}")

    def write_event(self, event: Event) -> None:
        """Append one event to the JSONL log (nothing when jsonl is not a format)."""
        self._check_open()
        if self._jsonl is not None:
            self._jsonl.file.write(event_to_json(event) + "\n")
            self._jsonl.file.flush()

    def write_source_cues(self, cues: Iterable[Cue]) -> None:
        """Append source-caption cues of any languages, in time order, to the source files."""
        self._check_open()
        cues = list(cues)
        for subtitle_file in self._source:
            subtitle_file.write(cues)

    def write_cues(self, lang: str, cues: Iterable[Cue]) -> None:
        """Append translation cues, in time order, to target ``lang``'s SRT and VTT files."""
        self._check_open()
        cues = list(cues)
        for subtitle_file in self._language(lang):
            subtitle_file.write(cues)

    def write_translation_cues(self, cues: Iterable[Cue]) -> None:
        """Append translation cues of any targets (as ``CueBuilder`` returns them), each
        to its own language's files."""
        by_lang: dict[str, list[Cue]] = {}
        for cue in cues:
            by_lang.setdefault(cue.lang, []).append(cue)
        for lang, lang_cues in by_lang.items():
            self.write_cues(lang, lang_cues)

    def _temps(self) -> list[_TempFile]:
        temps = [f.temp for f in self._subtitles.values()]
        return temps + ([self._jsonl] if self._jsonl is not None else [])

    def commit(self) -> list[Path]:
        """Move every file into place; the paths written."""
        self._check_open()
        done: list[Path] = []
        try:
            for temp in self._temps():
                temp.commit()
                done.append(temp.final)
        except OSError as e:
            self.abort()
            raise LivetransError(
                f"cannot write output files in {self.out_dir}: {e}; written: "
                f"{', '.join(p.name for p in done) or 'none'}"
            ) from e
        self._state = "committed"
        logger.info("wrote %s", ", ".join(str(p) for p in done))
        return done

    def abort(self) -> None:
        """Remove every temporary file and created folder; safe to call twice."""
        if self._state != "open":
            return
        self._state = "aborted"
        for temp in self._temps():
            try:
                temp.discard()
            except OSError as e:
                logger.warning("could not remove %s: %s", temp.path, e)
        for folder in self._created_dirs:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty, or not ours to remove any more

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()


# The name the CLI reads best with.
SubtitleFiles = OutputWriter
