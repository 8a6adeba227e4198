"""SRT and WebVTT text: timestamps, escaping, and round trips through real parsers."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
import srt
import webvtt

from livetrans.core.subtitles import SRT, VTT, render_srt, render_vtt
from livetrans.types import Cue

CUES = [
    Cue(0.0, 1.5, ("Hello, world.",), "en"),
    Cue(1.54, 4.321, ("Two lines, the first one", "and the second."), "en"),
    Cue(62.0005, 63.9994, ("Ünïcödé and 中文字幕。",), "en"),
    Cue(3725.25, 3727.0, ("Over an hour in.",), "en"),
]
TRICKY = [
    Cue(0.0, 1.0, ("a --> b & <i>c</i>",), "en"),
    Cue(2.0, 3.0, ("Tom & Jerry <3",), "en"),
]


def ms(seconds: float) -> int:
    return round(seconds * 1000)


@pytest.mark.parametrize(
    "seconds, srt_time, vtt_time",
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (1.5, "00:00:01,500", "00:00:01.500"),
        (59.9996, "00:01:00,000", "00:01:00.000"),
        (3661.007, "01:01:01,007", "01:01:01.007"),
        (100 * 3600 + 0.25, "100:00:00,250", "100:00:00.250"),
        (-0.2, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_timestamps(seconds: float, srt_time: str, vtt_time: str) -> None:
    assert SRT.timestamp(seconds) == srt_time
    assert VTT.timestamp(seconds) == vtt_time


def test_srt_layout_is_numbered_blocks_separated_by_blank_lines() -> None:
    assert render_srt(CUES[:2]) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello, world.\n\n"
        "2\n00:00:01,540 --> 00:00:04,321\nTwo lines, the first one\nand the second.\n\n"
    )


def test_vtt_layout_has_a_header_and_no_numbers() -> None:
    assert render_vtt(CUES[:1]) == "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello, world.\n\n"


def test_no_cues_give_valid_empty_files() -> None:
    assert render_srt([]) == ""
    assert render_vtt([]) == "WEBVTT\n\n"
    assert webvtt.from_string(render_vtt([])).captions == []


@pytest.mark.parametrize("cues", [CUES, TRICKY])
def test_srt_round_trips_through_the_srt_parser(cues: list[Cue]) -> None:
    parsed = list(srt.parse(render_srt(cues)))
    assert [p.index for p in parsed] == list(range(1, len(cues) + 1))
    assert [ms(p.start.total_seconds()) for p in parsed] == [ms(c.start) for c in cues]
    assert [ms(p.end.total_seconds()) for p in parsed] == [ms(c.end) for c in cues]
    assert [p.content for p in parsed] == [c.text for c in cues]


def _check_vtt(captions: list[webvtt.Caption], cues: list[Cue]) -> None:
    assert [c.start_time.in_milliseconds() for c in captions] == [ms(c.start) for c in cues]
    assert [c.end_time.in_milliseconds() for c in captions] == [ms(c.end) for c in cues]
    assert [html.unescape(c.raw_text) for c in captions] == [c.text for c in cues]


@pytest.mark.parametrize("cues", [CUES, TRICKY])
def test_vtt_round_trips_through_webvtt_from_string(cues: list[Cue]) -> None:
    _check_vtt(webvtt.from_string(render_vtt(cues), strict=True).captions, cues)


def test_vtt_round_trips_through_webvtt_read(tmp_path: Path) -> None:
    path = tmp_path / "captions.vtt"
    path.write_text(
        render_vtt(CUES + [Cue(4000.0, 4001.0, ("a --> b & <c>",), "en")]), encoding="utf-8"
    )
    _check_vtt(
        webvtt.read(str(path)).captions, CUES + [Cue(4000.0, 4001.0, ("a --> b & <c>",), "en")]
    )


def test_vtt_escapes_ampersand_angle_brackets_and_the_arrow() -> None:
    text = render_vtt(TRICKY)
    assert "a --&gt; b &amp; &lt;i&gt;c&lt;/i&gt;\n" in text
    assert "Tom &amp; Jerry &lt;3\n" in text
    assert text.count("-->") == len(TRICKY)  # only the timing lines


def test_empty_lines_are_dropped_and_empty_cues_skipped() -> None:
    """An empty line would end a cue early; a cue with no text would break numbering."""
    cues = [
        Cue(0.0, 1.0, ("first", "", "  second  "), "en"),
        Cue(1.5, 2.0, ("", "   "), "en"),
        Cue(2.5, 3.0, ("one\n\ntwo",), "en"),
    ]
    parsed = list(srt.parse(render_srt(cues)))
    assert [(p.index, p.content) for p in parsed] == [(1, "first\nsecond"), (2, "one\ntwo")]
    captions = webvtt.from_string(render_vtt(cues)).captions
    assert [c.text for c in captions] == ["first\nsecond", "one\ntwo"]


def test_the_two_formats_differ_only_in_their_attributes() -> None:
    """One implementation: a VTT writer with SRT's attributes writes SRT."""
    from dataclasses import replace

    as_srt = replace(
        VTT, header="", decimal_marker=",", numbered=True, escape_vtt=False, extension="srt"
    )
    assert as_srt == SRT
    assert as_srt.render(CUES) == render_srt(CUES)
