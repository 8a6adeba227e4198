"""``livetrans bench streams``' pure parts: looping a clip to the run's length, reading
/metrics, the table."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from livetrans.evaluation.bench_streams import GAP_SECONDS, default_clips, looped, read_metrics, realtime_factors, table
from livetrans.types import SAMPLE_RATE


def test_a_short_clip_is_looped_whole_with_a_pause_between_repeats() -> None:
    clip = np.ones(3 * SAMPLE_RATE, np.float32)
    audio = looped(clip, 10.0)
    unit = len(clip) + int(GAP_SECONDS * SAMPLE_RATE)
    assert len(audio) == 3 * unit >= 10 * SAMPLE_RATE
    assert audio[unit - 1] == 0 and audio[unit] == 1  # each repeat starts after its pause


def test_a_long_clip_plays_once() -> None:
    assert len(looped(np.ones(20 * SAMPLE_RATE, np.float32), 10.0)) == 20 * SAMPLE_RATE + GAP_SECONDS * SAMPLE_RATE


def test_the_default_clips_are_one_per_language() -> None:
    clips = default_clips()
    languages = [c.parent.name for c in clips]
    assert len(clips) >= 4 and len(set(languages)) == len(languages) and languages[0] == "en"


def test_the_figures_read_from_metrics_are_the_servers_names() -> None:
    registry = CollectorRegistry()
    Counter("livetrans_decodes", "decodes", registry=registry).inc(7)  # as server/metrics.py names them
    Histogram("livetrans_decode_batch_size", "sizes", buckets=(1, 2, 4), registry=registry).observe(2)
    got = read_metrics(generate_latest(registry).decode())
    assert got["livetrans_decodes_total"] == 7
    assert got["livetrans_decode_batch_size_count"] == 1 and got["livetrans_decode_batch_size_sum"] == 2


def test_each_streams_realtime_factor_is_read_as_the_admission_rule_reads_it() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("livetrans_realtime_factor", "factor", ["stream"], registry=registry)
    gauge.labels("s0").set(0.8)
    gauge.labels("s1").set(1.25)
    assert realtime_factors(generate_latest(registry).decode()) == {"s0": 0.8, "s1": 1.25}


def test_the_table_has_a_row_per_run_and_names_the_worst_stream() -> None:
    stream = {"final_median": 1.5, "final_p95": 3.0}
    slow = {"final_median": 2.5, "final_p95": 4.5}
    run = {"mode": "batched", "streams": 2, "pooled": {"final_median": 2.0, "final_p95": 4.0},
           "per_stream": [stream, slow], "cpu_rtf": 0.8, "decodes_per_second": 2.4,
           "mean_batch_size": 1.6, "peak_rss_mb": 700.0}
    lines = table([run, {**run, "mode": "unbatched", "mean_batch_size": None}]).splitlines()
    assert len(lines) == 4
    assert "| batched | 2 | 2.0 | 4.0 | 2.5 / 4.5 | 0.8 | 2.4 | 1.6 | 700.0 |" == lines[2]
    assert "| - |" in lines[3]
