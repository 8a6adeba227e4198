"""The evaluation report: summary tables (pure), JSON and Markdown (plots: ``livetrans.evaluation.plots``).

Everything here works on the plain dicts of ``report.json`` (what ``suite.run_suite``
returns, serialised), so a report can be re-rendered from a saved JSON file without
running any model: ``livetrans eval --render report.json --out DIR``.

Aggregates pool words, not clips: a group's error rate is the sum of each clip's
errors (rate × reference words or characters) over the sum of reference words, and
latency percentiles are taken over every matched word of the group. Groups never mix
the tuning and the held-out set; where both ran, their figures sit side by side.
Results without a ``set`` (reports from before the held-out set) are tuning results.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Row = dict[str, Any]
SET_ORDER = {"tuning": 0, "heldout": 1}
KIND_ORDER = {"clean": 0, "noise": 1, "synthetic": 2, "nonspeech": 3, "long": 4}


def result_set(result: Row) -> str:
    """The set a result belongs to ('tuning' for results that predate the sets)."""
    return str(result.get("set") or "tuning")


def set_label(sample_set: str) -> str:
    return "held-out" if sample_set == "heldout" else sample_set


def sets_in(results: list[Row]) -> list[str]:
    """The sets present in ``results``, tuning first."""
    return sorted({result_set(r) for r in results}, key=lambda s: SET_ORDER.get(s, 9))


def long_streams(report: Row) -> list[Row]:
    """The report's long streams: a list (one per set), or a single dict in older reports."""
    long = report.get("long")
    if not long:
        return []
    return [{"kind": "long", **one} for one in ([long] if isinstance(long, dict) else long)]


def percentile(values: Iterable[float], q: float) -> float | None:
    data = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.percentile(data, q)) if data else None


def pooled_error(results: list[Row], key: str) -> float | None:
    """Errors over reference units, pooled across ``results`` (None if nothing to score)."""
    scored = [(float(r[key]), int(r["ref_units"])) for r in results if r.get(key) is not None]
    units = sum(n for _, n in scored)
    if units == 0:
        return None
    return sum(rate * n for rate, n in scored) / units


def group_key(result: Row) -> tuple[str, str, str, str, str]:
    """(kind, noise or voice, snr, lang, set): the rows of the summary table."""
    kind = result["kind"]
    snr = "" if result.get("snr_db") is None else f"{result['snr_db']:g} dB"
    what = result.get("noise") or result.get("voice") or ""
    if kind == "clean":
        what = "clean"
    elif kind == "nonspeech":
        what = result["name"].rsplit("/", 1)[-1]
    return kind, what, snr, result["lang"], result_set(result)


def _sort_key(key: tuple[str, str, str, str, str]) -> tuple[Any, ...]:
    kind, what, snr, lang, sample_set = key
    snr_value = -float(snr.split()[0]) if snr else -math.inf
    return KIND_ORDER.get(kind, 9), what, snr_value, lang, SET_ORDER.get(sample_set, 9)


def summary_rows(results: list[Row]) -> list[Row]:
    """One row per (kind, noise/voice, SNR, language, set), pooled over its clips; sets side by side."""
    groups: dict[tuple[str, str, str, str, str], list[Row]] = defaultdict(list)
    for result in results:
        groups[group_key(result)].append(result)
    rows: list[Row] = []
    for key in sorted(groups, key=_sort_key):
        members = groups[key]
        kind, what, snr, lang, sample_set = key
        finals = [v for r in members for v in r.get("final_latencies", [])]
        partials = [v for r in members for v in r.get("partial_latencies", [])]
        stream_err = pooled_error(members, "stream_error")
        offline_err = pooled_error(members, "offline_error")
        rows.append(
            {
                "kind": kind,
                "set": sample_set,
                "condition": what,
                "snr": snr,
                "lang": lang,
                "synthetic": any(r.get("synthetic") for r in members),
                "clips": len(members),
                "audio_s": sum(r["duration_s"] for r in members),
                "metric": members[0]["metric"],
                "stream_error": stream_err,
                "offline_error": offline_err,
                "streaming_cost": None if stream_err is None or offline_err is None else stream_err - offline_err,
                "stream_words": sum(r.get("stream_words", 0) for r in members),
                "offline_words": sum(r.get("offline_words", 0) for r in members),
                "final_median_s": percentile(finals, 50),
                "final_p95_s": percentile(finals, 95),
                "partial_median_s": percentile(partials, 50),
                "partial_p95_s": percentile(partials, 95),
                "rtf": float(np.mean([r["rtf"] for r in members])),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in members),
            }
        )
    return rows


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def markdown_table(rows: list[Row]) -> str:
    """The summary as a Markdown table; error rates in percent, non-speech as words emitted."""
    header = (
        "| kind | set | condition | SNR | lang | clips | audio s | metric | stream % | offline % | cost (pts) "
        "| final med s | final p95 s | partial med s | partial p95 s | RTF | peak RSS MB |"
    )
    lines = [header, "|" + "---|" * 17]
    for row in rows:
        condition = row["condition"] + (" (synthetic)" if row["synthetic"] else "")
        if row["kind"] == "nonspeech":
            stream, offline, cost = f"{row['stream_words']} words", f"{row['offline_words']} words", "–"
        else:
            stream, offline = _pct(row["stream_error"]), _pct(row["offline_error"])
            cost = "–" if row["streaming_cost"] is None else f"{100 * row['streaming_cost']:+.1f}"
        cells = [
            row["kind"], set_label(row.get("set", "tuning")), condition, row["snr"] or "–", row["lang"], str(row["clips"]),
            f"{row['audio_s']:.0f}", row["metric"], stream, offline, cost,
            _fmt(row["final_median_s"]), _fmt(row["final_p95_s"]),
            _fmt(row["partial_median_s"]), _fmt(row["partial_p95_s"]),
            _fmt(row["rtf"]), _fmt(row["peak_rss_mb"], ".0f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def long_stream_markdown(long: Row) -> str:
    """The long stream: error per language, words in pauses, and latency/RSS at its start and end."""
    lines = [
        f"Long stream ({set_label(result_set(long))} set): {long['duration_s'] / 60:.1f} min, {long['utterances']} utterances, "
        f"background {long['snr_db']:g} dB below speech.",
        "",
        "| lang | utterances | metric | stream % | offline % |",
        "|---|---|---|---|---|",
    ]
    for lang, entry in sorted(long["per_language"].items()):
        lines.append(
            f"| {lang} | {entry['utterances']} | {entry['metric']} | {_pct(entry['stream_error'])} "
            f"| {_pct(entry['offline_error'])} |"
        )
    lines += [
        "",
        f"Words the stream emitted in pauses and background-only stretches: {long['words_in_pauses']} "
        "(offline is decoded utterance by utterance, so it has none to compare).",
    ]
    windows = [w for w in long["windows"] if w["final_median_s"] is not None]
    if windows:
        first, last = windows[0], windows[-1]
        lines.append(
            f"Final latency median: {first['final_median_s']:.2f} s in the first window, "
            f"{last['final_median_s']:.2f} s in the last; RSS {first['rss_mb']:.0f} → {last['rss_mb']:.0f} MB."
        )
    return "\n".join(lines) + "\n"


def overview_markdown(results: list[Row]) -> str:
    """Error rates per language: clean, each SNR pooled over every noise type, and synthetic voices.

    Where both sets ran, each column appears once per set, tuning then held-out, side by side.
    """
    base: list[tuple[str, Any]] = [("clean", lambda r: r["kind"] == "clean")]
    for snr in sorted({r["snr_db"] for r in results if r["kind"] == "noise"}, reverse=True):
        base.append((f"{snr:g} dB", lambda r, snr=snr: r["kind"] == "noise" and r["snr_db"] == snr))
    base.append(("synthetic", lambda r: r["kind"] == "synthetic"))
    sets = sets_in([r for r in results if r["kind"] in ("clean", "noise", "synthetic")])
    columns: list[tuple[str, Any]] = base
    if len(sets) > 1:
        columns = [
            (f"{name} {set_label(s)}", lambda r, chosen=chosen, s=s: result_set(r) == s and chosen(r))
            for name, chosen in base
            for s in sets
        ]
    langs = sorted({r["lang"] for r in results if r["kind"] in ("clean", "noise", "synthetic")})
    if not langs:
        return ""
    lines = [
        "| lang | metric | " + " | ".join(name for name, _ in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for lang in langs:
        cells = []
        members = [r for r in results if r["lang"] == lang]
        for _, chosen in columns:
            group = [r for r in members if chosen(r)]
            stream, offline = pooled_error(group, "stream_error"), pooled_error(group, "offline_error")
            cells.append("–" if stream is None else f"{_pct(stream)} / {_pct(offline)}")
        metric = next((r["metric"] for r in members if r.get("metric") in ("wer", "cer")), "wer")
        lines.append(f"| {lang} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def noise_markdown(results: list[Row]) -> str:
    """Error per noise type and language, SNRs pooled: which background hurts, set by set."""
    noisy = [r for r in results if r["kind"] == "noise"]
    if not noisy:
        return ""
    lines = ["| set | noise | lang | metric | clips | stream % | offline % |", "|---|---|---|---|---|---|---|"]
    keys = sorted({(SET_ORDER.get(result_set(r), 9), r["noise"], r["lang"]) for r in noisy})
    for _, noise, lang in keys:
        group = [r for r in noisy if r["noise"] == noise and r["lang"] == lang]
        lines.append(
            f"| {set_label(result_set(group[0]))} | {noise} | {lang} | {group[0]['metric']} | {len(group)} "
            f"| {_pct(pooled_error(group, 'stream_error'))} | {_pct(pooled_error(group, 'offline_error'))} |"
        )
    return "\n".join(lines) + "\n"


def worst_markdown(results: list[Row], count: int = 10) -> str:
    """The conditions where streaming lost most against offline, with what each one heard."""
    scored = [r for r in results if r.get("stream_error") is not None and r.get("offline_error") is not None]
    scored.sort(key=lambda r: (r["stream_error"] - r["offline_error"], r["stream_error"]), reverse=True)
    lines = ["| condition | stream % | offline % | streaming heard | offline heard |", "|---|---|---|---|---|"]
    for r in scored[:count]:
        if r["stream_error"] <= r["offline_error"]:
            break
        heard = [str(r[k]).replace("|", "/") for k in ("stream_text", "offline_text")]
        lines.append(f"| {r['name']} | {_pct(r['stream_error'])} | {_pct(r['offline_error'])} | {heard[0]} | {heard[1]} |")
    nonspeech = [r for r in results if r["kind"] == "nonspeech" and (r["stream_words"] or r["offline_words"])]
    for r in nonspeech:
        lines.append(f"| {r['name']} | {r['stream_words']} words | {r['offline_words']} words | {r['stream_text']} | {r['offline_text']} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def report_from_results(lines: list[str]) -> Row:
    """A report dict from the JSON lines a run checkpoints (``results.partial.jsonl``) if it was stopped."""
    results = [json.loads(line) for line in lines if line.strip()]
    longs = [r for r in results if r["kind"] == "long"]
    meta = {"model": "?", "machine": "?", "seed": "?", "started": "?", "clock": "?", "partial": True,
            "wall_s": sum(r.get("compute_s", 0.0) + r.get("offline_compute_s", 0.0) for r in results)}  # fmt: skip
    return {"meta": meta, "conditions": [r for r in results if r["kind"] != "long"], "long": longs}


def render_markdown(report: Row) -> str:
    meta = report["meta"]
    parts = [
        "# livetrans evaluation",
        "",
        f"Model `{meta['model']}` on {meta['machine']}; seed {meta['seed']}; "
        f"{meta['started']}; {meta['wall_s'] / 60:.1f} min. Clock: {meta['clock']}. "
        f"Sets: {', '.join(set_label(s) for s in sets_in(report['conditions'] + long_streams(report))) or '–'}.",
        "",
        "Error rates in percent after livetrans.evaluation.metrics.normalize (WER; CER for zh/ja/ko). "
        "`cost` is streaming minus offline, same model, same run. Latencies: emission time minus the "
        "word's end from offline word timestamps. Rows marked synthetic are espeak-ng/Piper speech.",
        "",
    ]
    if report["conditions"]:
        overview = overview_markdown(report["conditions"])
        if overview:
            parts += ["## Overview: streaming / offline error (%), noise types pooled", "", overview]
        per_noise = noise_markdown(report["conditions"])
        if per_noise:
            parts += ["## Per noise type (SNRs pooled)", "", per_noise]
        parts += ["## Every group", "", markdown_table(summary_rows(report["conditions"]))]
        worst = worst_markdown(report["conditions"])
        if worst:
            parts += ["## Where streaming lost most against offline, and words on non-speech", "", worst]
    for long in long_streams(report):
        parts += [f"## Long stream ({set_label(result_set(long))} set)", "", long_stream_markdown(long)]
    return "\n".join(parts)


def write_report(report: Row, out_dir: Path) -> list[Path]:
    """report.json, report.md and the PNG plots into ``out_dir``; returns the files written.

    The long stream's plot is ``long_stream.png``, or ``long_stream_heldout.png`` for the held-out set's.
    """
    from livetrans.evaluation.plots import plot_latency_cdf, plot_long_stream, plot_wer_vs_snr  # imports report

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    written[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written[1].write_text(render_markdown(report), encoding="utf-8")
    results = report["conditions"]
    longs = long_streams(report)
    for plotted in (
        plot_wer_vs_snr(results, out_dir / "wer_vs_snr.png"),
        plot_latency_cdf(results, longs, out_dir / "latency_cdf.png"),
        *(plot_long_stream(long, out_dir / f"long_stream{_set_suffix(long)}.png") for long in longs),
    ):
        if plotted is not None:
            written.append(plotted)
    logger.info("wrote %s", ", ".join(str(p) for p in written))
    return written


def _set_suffix(result: Row) -> str:
    return "" if result_set(result) == "tuning" else f"_{result_set(result)}"
