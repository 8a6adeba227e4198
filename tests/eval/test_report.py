"""Pure tests of the report: pooled aggregates, the Markdown table, files written, long-stream scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from livetrans.evaluation import plots as P
from livetrans.evaluation import report as R
from livetrans.evaluation.conditions import Condition, ConditionSpec, Placement
from livetrans.evaluation.suite import assign_words, long_stream_measures, score
from livetrans.types import SAMPLE_RATE, CaptionEvent, Word


def _result(name: str, kind: str, lang: str, stream: float | None, offline: float | None, units: int, **extra: Any) -> dict[str, Any]:
    base = {
        "name": name, "kind": kind, "lang": lang, "noise": None, "snr_db": None, "voice": None,
        "synthetic": False, "duration_s": 5.0, "metric": "wer", "ref_units": units,
        "stream_error": stream, "offline_error": offline, "stream_words": units, "offline_words": units,
        "final_latencies": [1.0, 2.0], "partial_latencies": [0.5], "rtf": 0.5, "peak_rss_mb": 400.0,
        "stream_text": "heard", "offline_text": "heard",
    }  # fmt: skip
    base.update(extra)
    return base


RESULTS = [
    _result("clean/en/a", "clean", "en", 0.0, 0.0, 10),
    _result("clean/en/b", "clean", "en", 0.5, 0.25, 30),
    _result("noise/crowd/10dB/en/a", "noise", "en", 0.2, 0.1, 10, noise="crowd", snr_db=10.0),
    _result("noise/crowd/0dB/en/a", "noise", "en", 0.6, 0.3, 10, noise="crowd", snr_db=0.0),
    _result("synthetic/piper-x/en/a", "synthetic", "en", 0.1, 0.1, 10, voice="piper:x", synthetic=True),
    _result("nonspeech/music", "nonspeech", "none", None, None, 0, metric="words", stream_words=3, offline_words=0,
            final_latencies=[], partial_latencies=[]),  # fmt: skip
]


def test_pooled_error_weights_by_reference_words() -> None:
    clean = RESULTS[:2]
    assert R.pooled_error(clean, "stream_error") == pytest.approx((0.0 * 10 + 0.5 * 30) / 40)
    assert R.pooled_error([RESULTS[-1]], "stream_error") is None


def test_summary_rows_group_and_order() -> None:
    rows = R.summary_rows(RESULTS)
    assert [(r["kind"], r["snr"]) for r in rows] == [
        ("clean", ""), ("noise", "10 dB"), ("noise", "0 dB"), ("synthetic", ""), ("nonspeech", ""),
    ]  # fmt: skip
    clean = rows[0]
    assert clean["clips"] == 2
    assert clean["streaming_cost"] == pytest.approx(0.375 - 0.1875)
    assert clean["final_median_s"] == pytest.approx(1.5)
    assert rows[3]["synthetic"] is True
    assert rows[4]["stream_words"] == 3


def test_markdown_table_marks_synthetic_and_nonspeech_words() -> None:
    table = R.markdown_table(R.summary_rows(RESULTS))
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 5
    assert "(synthetic)" in lines[5]
    assert "3 words" in lines[6]
    assert "37.5" in lines[2]  # the pooled clean stream WER in percent


def test_wer_vs_snr_series_puts_clean_first() -> None:
    series = P.wer_vs_snr_series(RESULTS)
    points = series["WER"]["crowd stream"]
    assert points[0] == (P.CLEAN_X, pytest.approx(0.375))
    assert [snr for snr, _ in points[1:]] == [10.0, 0.0]


def test_write_report_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    long = {
        "duration_s": 600.0, "utterances": 3, "snr_db": 15.0, "words_in_pauses": 2,
        "per_language": {"en": {"utterances": 3, "metric": "wer", "stream_error": 0.1, "offline_error": 0.05}},
        "windows": [{"start": 0.0, "end": 60.0, "words": 5, "final_median_s": 1.2, "final_p95_s": 2.0,
                     "partial_median_s": 0.6, "rss_mb": 500.0}],
        "rss_samples": [(0.0, 490.0), (30.0, 500.0)], "final_latencies": [1.0], "partial_latencies": [0.5],
    }  # fmt: skip
    report = {
        "meta": {"model": "base", "machine": "test", "seed": 0, "started": "now", "wall_s": 60.0, "clock": "virtual"},
        "conditions": RESULTS, "long": long,
    }  # fmt: skip
    written = R.write_report(report, tmp_path / "out")
    names = {p.name for p in written}
    assert names == {"report.json", "report.md", "wer_vs_snr.png", "latency_cdf.png", "long_stream.png"}
    for path in written:
        assert path.stat().st_size > 0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["conditions"][0]["name"] == "clean/en/a"
    assert (tmp_path / "out" / "wer_vs_snr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Long stream" in (tmp_path / "out" / "report.md").read_text()


def _final(words: list[Word], emitted_at: float) -> CaptionEvent:
    text = "".join(w.text for w in words)
    return CaptionEvent("final", "c", words[0].start, words[-1].end, text, "en", tuple(words), emitted_at=emitted_at)


def test_score_counts_words_on_nonspeech_and_errors_on_speech() -> None:
    words = [Word(0.0, 0.4, " Hello"), Word(0.5, 0.9, " world")]
    events = (_final(words, 2.0),)
    spec = ConditionSpec("clean/en/x", "clean", "en", "Hello world.", "x")
    result = score(spec, 1.0, events, "Hello world", "en", tuple(words), "Hello world", "en")
    assert result["stream_error"] == 0.0 and result["metric"] == "wer" and result["ref_units"] == 2
    assert result["final_latencies"] == [pytest.approx(1.6), pytest.approx(1.1)]
    silent = ConditionSpec("nonspeech/music", "nonspeech", "none", seconds=30.0)
    result = score(silent, 30.0, events, "Hello world", "en", (), "", "")
    assert result["stream_error"] is None and result["stream_words"] == 2 and result["offline_words"] == 0


def test_long_stream_assigns_words_to_utterances_and_pauses() -> None:
    placements = (Placement(1.0, 3.0, "en", "hello world", "a"), Placement(70.0, 72.0, "en", "good night", "b"))
    said = [Word(1.2, 1.6, " hello"), Word(1.7, 2.5, " world"), Word(30.0, 30.4, " thanks"),
            Word(70.2, 70.8, " good"), Word(71.0, 71.9, " knight")]  # fmt: skip
    per, stray = assign_words(said, placements)
    assert [len(p) for p in per] == [2, 2] and [w.text for w in stray] == [" thanks"]
    events = tuple(_final([w], w.end + 1.0) for w in said)
    offline = tuple(w for w in said if w.text != " thanks")
    condition = Condition(ConditionSpec("long/stream", "long", "multi", seconds=75.0),
                          np.zeros(75 * SAMPLE_RATE, np.float32), placements)  # fmt: skip
    measures = long_stream_measures(condition, events, offline, [(10.0, 400.0), (70.0, 420.0)])
    assert measures["words_in_pauses"] == 1
    assert measures["per_language"]["en"]["stream_error"] == pytest.approx(0.25)
    first, second = measures["windows"]
    assert first["words"] == 2 and first["final_median_s"] == pytest.approx(1.0) and first["rss_mb"] == 400.0
    assert second["words"] == 2 and second["rss_mb"] == 420.0


def test_eval_command_rerenders_a_saved_report(tmp_path: Path) -> None:
    """'livetrans eval --render report.json' redraws the report without any model."""
    from livetrans.cli import main

    saved = tmp_path / "saved.json"
    meta = {"model": "base", "machine": "test", "seed": 0, "started": "now", "wall_s": 1.0, "clock": "virtual"}
    saved.write_text(json.dumps({"meta": meta, "conditions": RESULTS, "long": None}))
    assert main(["eval", "--render", str(saved), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "wer_vs_snr.png").is_file()
    assert "clean" in (tmp_path / "again" / "report.md").read_text()


def test_eval_command_rejects_unknown_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from livetrans.cli import main

    assert main(["eval", "--groups", "clean,bogus", "--out", str(tmp_path)]) == 1
    assert "bogus" in capsys.readouterr().err


def test_worst_markdown_lists_streaming_losses_and_nonspeech_words() -> None:
    worst = R.worst_markdown(RESULTS)
    rows = worst.strip().splitlines()[2:]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert names[0] == "noise/crowd/0dB/en/a"  # lost 30 points, the most
    assert "clean/en/a" not in names  # streaming equal to offline: not a loss
    assert names[-1] == "nonspeech/music"


def test_report_from_checkpoint_lines() -> None:
    lines = [json.dumps(r) for r in RESULTS] + [""]
    report = R.report_from_results(lines)
    assert len(report["conditions"]) == len(RESULTS) and report["long"] == []
    assert report["meta"]["partial"] is True


def test_overview_pools_noise_types_per_snr() -> None:
    overview = R.overview_markdown(RESULTS).strip().splitlines()
    assert overview[0] == "| lang | metric | clean | 10 dB | 0 dB | synthetic |"
    assert overview[2] == "| en | wer | 37.5 / 18.8 | 20.0 / 10.0 | 60.0 / 30.0 | 10.0 / 10.0 |"


HELDOUT = [
    _result("clean/en/h", "clean", "en", 0.4, 0.2, 20, set="heldout"),
    _result("noise/stadium/10dB/en/h", "noise", "en", 0.5, 0.3, 20, noise="stadium", snr_db=10.0, set="heldout"),
    _result("heldout/nonspeech/music", "nonspeech", "none", None, None, 0, metric="words", stream_words=1,
            offline_words=0, final_latencies=[], partial_latencies=[], set="heldout"),  # fmt: skip
]


def test_summary_rows_keep_sets_apart_and_side_by_side() -> None:
    """A group never pools the two sets; the same group of each set sits on adjacent rows, tuning first."""
    rows = R.summary_rows(RESULTS + HELDOUT)
    clean = [(r["set"], r["clips"]) for r in rows if r["kind"] == "clean"]
    assert clean == [("tuning", 2), ("heldout", 1)]
    music = [r["set"] for r in rows if r["kind"] == "nonspeech"]
    assert music == ["tuning", "heldout"]
    table = R.markdown_table(rows)
    assert "| clean | held-out | clean |" in table and "| clean | tuning | clean |" in table


def test_overview_puts_the_sets_side_by_side() -> None:
    overview = R.overview_markdown(RESULTS + HELDOUT).strip().splitlines()
    assert overview[0] == (
        "| lang | metric | clean tuning | clean held-out | 10 dB tuning | 10 dB held-out "
        "| 0 dB tuning | 0 dB held-out | synthetic tuning | synthetic held-out |"
    )
    assert overview[2] == "| en | wer | 37.5 / 18.8 | 40.0 / 20.0 | 20.0 / 10.0 | 50.0 / 30.0 | 60.0 / 30.0 | – | 10.0 / 10.0 | – |"


def test_noise_markdown_gives_each_noise_of_each_set() -> None:
    lines = R.noise_markdown(RESULTS + HELDOUT).strip().splitlines()[2:]
    assert lines == [
        "| tuning | crowd | en | wer | 2 | 40.0 | 20.0 |",
        "| held-out | stadium | en | wer | 1 | 50.0 | 30.0 |",
    ]


def test_wer_vs_snr_starts_each_noise_from_its_own_sets_clean_error() -> None:
    series = P.wer_vs_snr_series(RESULTS + HELDOUT)["WER"]
    assert series["crowd stream"][0] == (P.CLEAN_X, pytest.approx(0.375))
    assert series["stadium stream"] == [(P.CLEAN_X, pytest.approx(0.4)), (10.0, pytest.approx(0.5))]


def test_write_report_draws_one_long_stream_per_set_and_reads_old_reports(tmp_path: Path) -> None:
    long = {
        "kind": "long", "duration_s": 120.0, "utterances": 1, "snr_db": 15.0, "words_in_pauses": 0,
        "per_language": {"en": {"utterances": 1, "metric": "wer", "stream_error": 0.1, "offline_error": 0.05}},
        "windows": [{"start": 0.0, "end": 60.0, "words": 5, "final_median_s": 1.2, "final_p95_s": 2.0,
                     "partial_median_s": 0.6, "rss_mb": 500.0}],
        "rss_samples": [(0.0, 490.0)], "final_latencies": [1.0], "partial_latencies": [0.5],
    }  # fmt: skip
    meta = {"model": "base", "machine": "test", "seed": 0, "started": "now", "wall_s": 60.0, "clock": "virtual"}
    both = {"meta": meta, "conditions": RESULTS + HELDOUT, "long": [long, {**long, "set": "heldout"}]}
    names = {p.name for p in R.write_report(both, tmp_path / "both")}
    assert {"long_stream.png", "long_stream_heldout.png"} <= names
    markdown = (tmp_path / "both" / "report.md").read_text()
    assert "## Long stream (tuning set)" in markdown and "## Long stream (held-out set)" in markdown
    assert "Sets: tuning, held-out." in markdown
    old = {"meta": meta, "conditions": RESULTS, "long": long}  # a report from before the sets: one dict
    assert "long_stream.png" in {p.name for p in R.write_report(old, tmp_path / "old")}
