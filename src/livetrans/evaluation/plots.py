"""The evaluation report's PNG plots: error against SNR, word-latency CDFs, the long stream over time.

Like ``livetrans.evaluation.report``, everything works on the plain dicts of
``report.json``. Results without a ``set`` (reports from before the held-out set)
count as tuning results. matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from livetrans.evaluation.report import (
    KIND_ORDER,
    Row,
    pooled_error,
    result_set,
    set_label,
)

CLEAN_X = 30.0  # where "clean" sits on the SNR axis of the WER plot


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def wer_vs_snr_series(results: list[Row]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """metric family ('WER' or 'CER') → line name → [(snr, pooled error)], clean at CLEAN_X.

    Each noise line starts from the clean error of its own set's clips, since a set's
    noises are only mixed with that set's speech.
    """
    series: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    by_family: dict[str, list[Row]] = defaultdict(list)
    for r in results:
        if r["kind"] in ("clean", "noise"):
            by_family[r["metric"].upper()].append(r)
    for family, members in by_family.items():
        for noise in sorted({r["noise"] for r in members if r["kind"] == "noise"}):
            noisy = [r for r in members if r["noise"] == noise]
            sample_set = result_set(noisy[0])
            clean = [r for r in members if r["kind"] == "clean" and result_set(r) == sample_set]
            for mode in ("stream", "offline"):
                points: list[tuple[float, float]] = []
                clean_err = pooled_error(clean, f"{mode}_error")
                if clean_err is not None:
                    points.append((CLEAN_X, clean_err))
                for snr in sorted({r["snr_db"] for r in noisy}, reverse=True):
                    err = pooled_error([r for r in noisy if r["snr_db"] == snr], f"{mode}_error")
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
    colors = plt.get_cmap("tab20")
    for ax, (family, lines) in zip(axes[0], sorted(series.items())):
        noises = sorted({name.rsplit(" ", 1)[0] for name in lines})
        for name, points in sorted(lines.items()):
            noise, mode = name.rsplit(" ", 1)
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(
                xs, [100 * y for y in ys], marker="o", color=colors(noises.index(noise) % 20),
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


def plot_latency_cdf(results: list[Row], longs: list[Row], path: Path) -> Path | None:
    """One CDF per kind of condition (and per set, where both ran), final and partial."""
    both = len({result_set(r) for r in [*results, *longs]}) > 1
    groups: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for r in [*results, *longs]:
        if r["kind"] != "nonspeech":
            label = r["kind"] + (f" {set_label(result_set(r))}" if both else "")
            groups[(KIND_ORDER.get(r["kind"], 9), label)].append(r)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted = False
    colors = plt.get_cmap("tab10")
    for index, ((_, label), members) in enumerate(sorted(groups.items())):
        for measure, style in (("final", "-"), ("partial", "--")):
            values = np.sort([v for r in members for v in r.get(f"{measure}_latencies", [])])
            if len(values) == 0:
                continue
            ax.plot(
                values, np.arange(1, len(values) + 1) / len(values), style, color=colors(index % 10),
                label=f"{label} {measure} (n={len(values)})",
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
    top.set_title(
        f"Long stream, {set_label(result_set(long))} set ({long['duration_s'] / 60:.0f} min): latency and memory over time"
    )
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
