"""Cues to SRT and WebVTT text.

As in openai/whisper's ``utils.py``, the two formats share one writer and differ
only in its attributes: the header, the millisecond separator, cue numbers and
escaping. Times are ``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT), rounded
to the millisecond; hours grow past two digits for streams over 99 hours.

Text: each cue's lines are stripped, empty lines dropped (an empty line would end
the cue for every parser), and a cue left with no text is skipped, so SRT
numbers stay consecutive. WebVTT escapes ``&``, ``<`` and ``>`` (which covers
``-->``); SRT has no escaping, and its parsers take ``-->`` inside text as text.
Lines end with ``\\n``, which SRT players and the ``srt`` parser accept.

A source-caption file mixes languages, so its WebVTT cues say theirs with a
``<lang xx>`` span around the cue text (WebVTT's language span: browsers' track
parsers and webvtt-py take it as markup, not text). SRT has no such markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..types import Cue


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _keep(text: str) -> str:
    return text


_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")  # what a <lang> span may name


@dataclass(frozen=True)
class SubtitleWriter:
    """One subtitle format: everything SRT and WebVTT differ in."""

    extension: str  # file extension, without the dot
    header: str  # text before the first cue
    decimal_marker: str  # between seconds and milliseconds
    numbered: bool  # whether each cue starts with its number (from 1)
    escape_vtt: bool  # whether &, < and > are written as character references
    lang_spans: bool = False  # whether a cue's text is wrapped in <lang xx>…</lang> (WebVTT)

    def timestamp(self, seconds: float) -> str:
        """``HH:MM:SS<marker>mmm``; times before 0 are written as 0."""
        total_ms = max(0, round(seconds * 1000))
        hours, rest_ms = divmod(total_ms, 3_600_000)
        minutes, rest_ms = divmod(rest_ms, 60_000)
        secs, ms = divmod(rest_ms, 1000)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}{self.decimal_marker}{ms:03d}"

    def cue_lines(self, cue: Cue) -> list[str]:
        """The cue's text lines as written: stripped, no empty line, escaped."""
        lines = [part.strip() for line in cue.lines for part in line.splitlines()]
        escape = _escape_vtt if self.escape_vtt else _keep
        out = [escape(line) for line in lines if line]
        if out and self.lang_spans and _LANGUAGE_TAG.fullmatch(cue.lang):
            out[0] = f"<lang {cue.lang}>{out[0]}"
            out[-1] = f"{out[-1]}</lang>"
        return out

    def block(self, number: int, cue: Cue) -> str:
        """One cue as written, ending in a blank line; "" for a cue with no text."""
        lines = self.cue_lines(cue)
        if not lines:
            return ""
        timing = f"{self.timestamp(cue.start)} --> {self.timestamp(cue.end)}"
        head = [str(number), timing] if self.numbered else [timing]
        return "\n".join(head + lines) + "\n\n"

    def render(self, cues: Iterable[Cue]) -> str:
        """A whole file's text."""
        parts = [self.header]
        number = 1
        for cue in cues:
            block = self.block(number, cue)
            if block:
                parts.append(block)
                number += 1
        return "".join(parts)


SRT = SubtitleWriter(
    extension="srt", header="", decimal_marker=",", numbered=True, escape_vtt=False
)
VTT = SubtitleWriter(
    extension="vtt", header="WEBVTT\n\n", decimal_marker=".", numbered=False, escape_vtt=True
)
WRITERS: dict[str, SubtitleWriter] = {"srt": SRT, "vtt": VTT}
# The source captions' files: one file for every language spoken, each VTT cue tagged.
SOURCE_WRITERS: dict[str, SubtitleWriter] = {"srt": SRT, "vtt": replace(VTT, lang_spans=True)}


def render_srt(cues: Iterable[Cue]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm`` times."""
    return SRT.render(cues)


def render_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text: ``WEBVTT`` header, ``HH:MM:SS.mmm`` times, escaped text."""
    return VTT.render(cues)
