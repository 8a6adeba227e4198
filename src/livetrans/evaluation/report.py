"""The evaluation report: summary tables (pure), JSON, Markdown and PNG plots.

Everything here works on the plain dicts of ``report.json`` (what ``suite.run_suite``
returns, serialised), so a report can be re-rendered from a saved JSON file without
running any model: ``livetrans eval --render report.json --out DIR``.

Aggregates pool words, not clips: a group's error rate is the sum of each clip's
errors (rate × reference words or characters) over the sum of reference words, and
latency percentiles are taken over every matched word of the group.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

logger = logging.getLogger(__name__)

Row = dict[str, Any]
CLEAN_X = 30.0  # where "clean" sits on the SNR axis of the WER plot


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


def group_key(result: Row) -> tuple[str, str, str, str]:
    """(kind, noise or voice, snr, lang): the rows of the summary table."""
    kind = result["kind"]
    snr = "" if result.get("snr_db") is None else f"{result['snr_db']:g} dB"
    what = result.get("noise") or result.get("voice") or ""
    if kind == "clean":
        what = "clean"
    elif kind == "nonspeech":
        what = result["name"].rsplit("/", 1)[-1]
    return kind, what, snr, result["lang"]


_KIND_ORDER = {"clean": 0, "noise": 1, "synthetic": 2, "nonspeech": 3, "long": 4}


def _sort_key(key: tuple[str, str, str, str]) -> tuple[Any, ...]:
    kind, what, snr, lang = key
    snr_value = -float(snr.split()[0]) if snr else -math.inf
    return _KIND_ORDER.get(kind, 9), what, snr_value, lang


def summary_rows(results: list[Row]) -> list[Row]:
    """One row per (kind, noise/voice, SNR, language), pooled over its clips."""
    groups: dict[tuple[str, str, str, str], list[Row]] = defaultdict(list)
    for result in results:
        groups[group_key(result)].append(result)
    rows: list[Row] = []
    for key in sorted(groups, key=_sort_key):
        members = groups[key]
        kind, what, snr, lang = key
        finals = [v for r in members for v in r.get("final_latencies", [])]
        partials = [v for r in members for v in r.get("partial_latencies", [])]
        stream_err = pooled_error(members, "stream_error")
        offline_err = pooled_error(members, "offline_error")
        rows.append(
            {
                "kind": kind,
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
        "| kind | condition | SNR | lang | clips | audio s | metric | stream % | offline % | cost (pts) "
        "| final med s | final p95 s | partial med s | partial p95 s | RTF | peak RSS MB |"
    )
    lines = [header, "|" + "---|" * 16]
    for row in rows:
        condition = row["condition"] + (" (synthetic)" if row["synthetic"] else "")
        if row["kind"] == "nonspeech":
            stream, offline, cost = f"{row['stream_words']} words", f"{row['offline_words']} words", "–"
        else:
            stream, offline = _pct(row["stream_error"]), _pct(row["offline_error"])
            cost = "–" if row["streaming_cost"] is None else f"{100 * row['streaming_cost']:+.1f}"
        cells = [
            row["kind"], condition, row["snr"] or "–", row["lang"], str(row["clips"]),
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
        f"Long stream: {long['duration_s'] / 60:.1f} min, {long['utterances']} utterances, "
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
    """Error rates per language: clean, each SNR pooled over every noise type, and synthetic voices."""
    columns: list[tuple[str, Any]] = [("clean", lambda r: r["kind"] == "clean")]
    for snr in sorted({r["snr_db"] for r in results if r["kind"] == "noise"}, reverse=True):
        columns.append((f"{snr:g} dB", lambda r, snr=snr: r["kind"] == "noise" and r["snr_db"] == snr))
    columns.append(("synthetic", lambda r: r["kind"] == "synthetic"))
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
    long = next((r for r in results if r["kind"] == "long"), None)
    meta = {"model": "?", "machine": "?", "seed": "?", "started": "?", "clock": "?", "partial": True,
            "wall_s": sum(r.get("compute_s", 0.0) + r.get("offline_compute_s", 0.0) for r in results)}  # fmt: skip
    return {"meta": meta, "conditions": [r for r in results if r["kind"] != "long"], "long": long}


def render_markdown(report: Row) -> str:
    meta = report["meta"]
    parts = [
        "# livetrans evaluation",
        "",
        f"Model `{meta['model']}` on {meta['machine']}; seed {meta['seed']}; "
        f"{meta['started']}; {meta['wall_s'] / 60:.1f} min. Clock: {meta['clock']}.",
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
        parts += ["## Every group", "", markdown_table(summary_rows(report["conditions"]))]
        worst = worst_markdown(report["conditions"])
        if worst:
            parts += ["## Where streaming lost most against offline, and words on non-speech", "", worst]
    if report.get("long"):
        parts += ["## Long stream", "", long_stream_markdown(report["long"])]
    return "\n".join(parts)


# ---------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def wer_vs_snr_series(results: list[Row]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """metric family ('WER' or 'CER') → line name → [(snr, pooled error)], clean at CLEAN_X."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    by_family: dict[str, list[Row]] = defaultdict(list)
    for r in results:
        if r["kind"] in ("clean", "noise"):
            by_family[r["metric"].upper()].append(r)
    for family, members in by_family.items():
        clean = [r for r in members if r["kind"] == "clean"]
        for noise in sorted({r["noise"] for r in members if r["kind"] == "noise"}):
            for mode in ("stream", "offline"):
                points: list[tuple[float, float]] = []
                clean_err = pooled_error(clean, f"{mode}_error")
                if clean_err is not None:
                    points.append((CLEAN_X, clean_err))
                for snr in sorted({r["snr_db"] for r in members if r["noise"] == noise}, reverse=True):
                    at = [r for r in members if r["noise"] == noise and r["snr_db"] == snr]
                    err = pooled_error(at, f"{mode}_error")
                    if err is not None:
                        points.append((snr, err))
                series[family][f"{noise} {mode}"] = points
    return dict(series)


def plot_wer_vs_snr(results: list[Row], path: Path) -> Path | None:
    series = wer_vs_snr_series(results)
    if not series:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(series), figsize=(6.5 * len(series), 4.5), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, (family, lines) in zip(axes[0], sorted(series.items())):
        noises = sorted({name.rsplit(" ", 1)[0] for name in lines})
        for name, points in sorted(lines.items()):
            noise, mode = name.rsplit(" ", 1)
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(
                xs, [100 * y for y in ys], marker="o", color=colors(noises.index(noise) % 10),
                linestyle="-" if mode == "stream" else ":", label=f"{noise} ({mode})",
            )  # fmt: skip
        ax.set_xlabel("SNR (dB), noisier to the right")
        ax.set_ylabel(f"{family} (%)")
        ax.set_title(f"{family} against SNR per noise type (solid: streaming, dotted: offline)")
        ax.invert_xaxis()
        ticks = sorted({x for pts in lines.values() for x, _ in pts})
        ax.set_xticks(ticks, ["clean" if t == CLEAN_X else f"{t:g}" for t in ticks])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency_cdf(results: list[Row], long: Row | None, path: Path) -> Path | None:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in results:
        if r["kind"] != "nonspeech":
            groups[r["kind"]].append(r)
    if long:
        groups["long"].append(long)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted = False
    colors = plt.get_cmap("tab10")
    for index, (kind, members) in enumerate(sorted(groups.items(), key=lambda kv: _KIND_ORDER.get(kv[0], 9))):
        for measure, style in (("final", "-"), ("partial", "--")):
            values = np.sort([v for r in members for v in r.get(f"{measure}_latencies", [])])
            if len(values) == 0:
                continue
            ax.plot(
                values, np.arange(1, len(values) + 1) / len(values), style, color=colors(index % 10),
                label=f"{kind} {measure} (n={len(values)})",
            )  # fmt: skip
            plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xlabel("latency (s): emission minus the word's end")
    ax.set_ylabel("fraction of words")
    ax.set_title("Word latency CDF (solid: final, dashed: partial)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_long_stream(long: Row, path: Path) -> Path | None:
    windows = long.get("windows", [])
    if not windows:
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    mids = [(w["start"] + w["end"]) / 120.0 for w in windows]
    for key, label in (("final_median_s", "final median"), ("final_p95_s", "final p95"), ("partial_median_s", "partial median")):
        top.plot(mids, [np.nan if w[key] is None else w[key] for w in windows], marker=".", label=label)
    top.set_ylabel("latency (s)")
    top.set_title(f"Long stream ({long['duration_s'] / 60:.0f} min): latency and memory over time")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    samples = long.get("rss_samples", [])
    if samples:
        bottom.plot([t / 60.0 for t, _ in samples], [mb for _, mb in samples], color="tab:red")
    bottom.set_ylabel("RSS (MB)")
    bottom.set_xlabel("stream time (min)")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: Row, out_dir: Path) -> list[Path]:
    """report.json, report.md and the PNG plots into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    written[0].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written[1].write_text(render_markdown(report), encoding="utf-8")
    results = report["conditions"]
    long = report.get("long")
    for plotted in (
        plot_wer_vs_snr(results, out_dir / "wer_vs_snr.png"),
        plot_latency_cdf(results, long, out_dir / "latency_cdf.png"),
        plot_long_stream(long, out_dir / "long_stream.png") if long else None,
    ):
        if plotted is not None:
            written.append(plotted)
    logger.info("wrote %s", ", ".join(str(p) for p in written))
    return written
