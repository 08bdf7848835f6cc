"""The ``compare`` report: ``metrics.csv``, ``summary.json``, charts, spectrograms, ``index.html``.

Everything lives in one folder with relative links (``audio/``, ``spectrograms/``,
``charts/``), so the folder can be zipped and shared. The report is built in a hidden folder
beside its own and swapped in whole (:func:`rnnoise_kit.fileio.install_tree`): a run that
fails or is killed leaves the previous report (or none), never part of one.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from rnnoise_kit.audio.io import write_audio
from rnnoise_kit.errors import OutputError
from rnnoise_kit.evaluation._deps import matplotlib_pyplot, require
from rnnoise_kit.evaluation.metrics import METRIC_RATE
from rnnoise_kit.evaluation.schema import (
    BASELINE,
    BY_NAME,
    CHART_METRICS,
    CLEAN,
    COLUMNS,
    HIGHER_IS_BETTER,
    INTRUSIVE,
    METRICS,
    PAIRED,
    SET_TITLES,
    TEST_SET,
    TITLES,
    fmt,
)
from rnnoise_kit.fileio import atomic_path, atomic_write_text

ENTRIES = ("audio", "spectrograms", "charts", "metrics.csv", "summary.json", "index.html")
"""What a report folder holds (top level); ``index.html`` is written last."""
INDEX = "index.html"
_TITLE = "<title>rnnoise-kit compare</title>"
PLACEHOLDER = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               f"{_TITLE}</head><body><p>This report is incomplete: the run writing it was "
               "interrupted. Run the same command again.</p></body></html>\n").encode()
"""The ``index.html`` that stands in for the report's while a new one is swapped in: what a
run killed at that moment leaves, and what tells the next run that the folder is its own."""

SPEC_RANGE_DB = 80.0
"""Colour range of the spectrograms, below the loudest value of a file's signals."""
SPEC_MAX_HZ = 20000.0
"""Top of the spectrograms' frequency axis (or the Nyquist frequency, if lower)."""
SPEC_N_MELS = 96
_SPEC_TICKS_HZ = (250, 500, 1000, 2000, 4000, 8000, 16000)


def _finite(values) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return a[np.isfinite(a)]


# --------------------------------------------------------------------------- spectrograms


def spectrogram_hop(n_samples: int, rate: int, max_columns: int = 1200) -> int:
    """Hop of :func:`mel_spectrogram` in samples: 10 ms, grown so that a long file gives at
    most ``max_columns`` frames."""
    return max(rate // 100, int(np.ceil(n_samples / max_columns)))


def _spec_n_fft(rate: int, n_fft: int = 2048) -> int:
    # about 43 ms at any rate (a power of two), at most n_fft
    return min(n_fft, 1 << int(np.ceil(np.log2(max(32, rate * 0.043)))))


def mel_spectrogram(audio: np.ndarray, rate: int, n_mels: int = SPEC_N_MELS, n_fft: int = 2048,
                    max_columns: int = 1200) -> np.ndarray:
    """Mel power spectrogram in dB (full scale 1.0 = 0 dB), shape (n_mels, frames).

    The filterbank is librosa's (HTK mel scale, triangles of peak 1), from 0 Hz to
    :data:`SPEC_MAX_HZ` or the Nyquist frequency.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
    rate : int
    n_mels, n_fft : int
    max_columns : int
        The hop grows (from 10 ms) so that a long file gives at most this many frames
        (:func:`spectrogram_hop`).

    Returns
    -------
    np.ndarray
    """
    filters = require("librosa.filters")
    x = np.asarray(audio, dtype=np.float64)
    n_fft = _spec_n_fft(rate, n_fft)
    hop = spectrogram_hop(x.size, rate, max_columns)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    n_frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    win = np.hanning(n_fft)
    spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2 / (np.sum(win**2) * n_fft / 2)
    fb = filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0,
                     fmax=min(rate / 2, SPEC_MAX_HZ), htk=True, norm=None, dtype=np.float64)
    return 10.0 * np.log10(np.maximum(fb @ spec.T, 1e-12))


def save_spectrograms(spectrograms: Mapping[Path, tuple[np.ndarray, int]], vmax: float,
                      rate: int) -> None:
    """Draw mel spectrograms as PNGs (each written atomically): time in seconds across,
    frequency in Hz up (mel scale), and a dB colour bar from ``vmax - SPEC_RANGE_DB`` to
    ``vmax`` shared by all of them.

    Parameters
    ----------
    spectrograms : mapping
        Output path to ``(mel_db, hop)``: ``mel_db`` of shape (n_mels, frames) from
        :func:`mel_spectrogram` of a signal at ``rate``, ``hop`` in samples
        (:func:`spectrogram_hop`).
    vmax : float
        Top of the colour scale in dB.
    rate : int
    """
    librosa = require("librosa")
    plt = matplotlib_pyplot()
    fmax = min(rate / 2, SPEC_MAX_HZ)
    mel_lo, mel_hi = librosa.hz_to_mel([0.0, fmax], htk=True)
    ticks = [f for f in _SPEC_TICKS_HZ if f <= fmax]
    # one figure for all: building it costs more than drawing it again with other data
    fig = plt.figure(figsize=(10, 2.6))
    try:
        ax = fig.add_axes((0.06, 0.17, 0.84, 0.78))
        image = None
        for path, (mel_db, hop) in spectrograms.items():
            # row i is the band centred on mel point i + 1 of n_mels + 2, evenly spaced
            half_row = (mel_hi - mel_lo) / (mel_db.shape[0] + 1) / 2
            extent = (0.0, mel_db.shape[1] * hop / rate, mel_lo + half_row, mel_hi - half_row)
            if image is None:
                image = ax.imshow(mel_db, origin="lower", aspect="auto", interpolation="nearest",
                                  cmap="magma", vmin=vmax - SPEC_RANGE_DB, vmax=vmax,
                                  extent=extent)
                fig.colorbar(image, cax=fig.add_axes((0.915, 0.17, 0.015, 0.78)),
                             format="%+.0f dB")
                ax.set_yticks(librosa.hz_to_mel(ticks, htk=True),
                              [f"{f / 1000:g}k" if f >= 1000 else str(f) for f in ticks])
                ax.set_xlabel("time (s)")
                ax.set_ylabel("frequency (Hz)")
            else:
                image.set_data(mel_db)
                image.set_extent(extent)
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=100,
                            pil_kwargs={"compress_level": 3})  # zlib's default is 10x slower
    finally:
        plt.close(fig)


AUDIO_FORMATS = ("flac", "wav")
"""Formats of the report's audio files: FLAC (lossless, about half the size of WAV; every
current browser plays it) or WAV."""


def write_file_media(out: Path, key: str, signals: dict[str, np.ndarray], rate: int,
                     spectrograms: bool = True,
                     audio_format: str = "flac") -> dict[str, dict[str, str]]:
    """Write one file's audio (16-bit FLAC or WAV) and mel spectrograms into the report folder.

    Parameters
    ----------
    out : Path
        Report folder.
    key : str
        The file's unique, URL-safe name stem.
    signals : dict
        Row label (``noisy``, ``clean``, model labels) to mono float signal in [-1, 1].
    rate : int
    spectrograms : bool
    audio_format : {"flac", "wav"}

    Returns
    -------
    dict
        Label to ``{"audio": relative path, "spectrogram": relative path}``.
    """
    media: dict[str, dict[str, str]] = {}
    mels = {}
    for label, sig in signals.items():
        rel = f"audio/{key}.{label}.{audio_format}"
        write_audio(out / rel, np.clip(sig, -1.0, 1.0), rate, subtype="PCM_16")
        media[label] = {"audio": rel}
        if spectrograms:
            mels[label] = mel_spectrogram(sig, rate), spectrogram_hop(len(sig), rate)
    if mels:
        vmax = max(float(np.max(m)) for m, _ in mels.values())
        vmax = max(vmax, -100.0 + SPEC_RANGE_DB)
        for label in mels:
            media[label]["spectrogram"] = f"spectrograms/{key}.{label}.png"
        save_spectrograms({out / media[label]["spectrogram"]: mel for label, mel in mels.items()},
                          vmax, rate)
    return media


# --------------------------------------------------------------------------- tables


def summarize(rows: Sequence[dict], labels: Sequence[str], files=(),
              failures: dict[str, str] | None = None) -> dict:
    """Per-model means (over finite values) and counts.

    Parameters
    ----------
    rows : sequence of dict
        One per file and model (``metrics.csv`` rows).
    labels : sequence of str
        Row labels in order (``noisy`` first).
    files : sequence
        The scored files.
    failures : dict, optional

    Returns
    -------
    dict
        ``{"models": {label: {metric: mean, ..., "files": n}}, "best": {metric: label},
        "files": n, "failed": {...}}`` (JSON-ready: missing means are ``None``).
    """
    models: dict[str, dict] = {}
    for label in labels:
        mine = [r for r in rows if r["model"] == label]
        entry: dict = {"files": len(mine)}
        for m in METRICS:
            vals = _finite(r.get(m, math.nan) for r in mine)
            entry[m] = float(vals.mean()) if vals.size else None
        models[label] = entry
    best = {}
    for m in HIGHER_IS_BETTER:
        cands = [(v[m], k) for k, v in models.items() if v.get(m) is not None]
        if cands:
            best[m] = max(cands)[1]
    snrs = _finite(r.get("snr", math.nan) for r in rows)
    return {
        "models": models,
        "best": best,
        "files": len(list(files)),
        "snr_range": [float(snrs.min()), float(snrs.max())] if snrs.size else None,
        "failed": dict(failures or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def summarize_sets(rows: Sequence[dict], labels: Sequence[str], files=(),
                   failures: dict[str, str] | None = None) -> dict:
    """:func:`summarize` of the first set present (the test set, else the real recordings),
    plus ``"sets"``: ``{set: summarize(that set's rows and files)}`` for every set present,
    in :data:`~rnnoise_kit.evaluation.schema.SET_TITLES` order."""
    files = list(files)
    present = [s for s in SET_TITLES
               if any(getattr(f, "set", TEST_SET) == s for f in files)
               or any(r.get("set", TEST_SET) == s for r in rows)]
    sets = {}
    for name in present:
        mine = [r for r in rows if r.get("set", TEST_SET) == name]
        sets[name] = summarize(mine, labels, [f for f in files
                                              if getattr(f, "set", TEST_SET) == name])
        sets[name].pop("failed")
        sets[name].pop("created")
    first = present[0] if present else TEST_SET
    main = summarize([r for r in rows if r.get("set", TEST_SET) == first], labels,
                     [f for f in files if getattr(f, "set", TEST_SET) == first], failures)
    main["sets"] = sets
    return main


def metrics_csv_text(rows: Sequence[dict]) -> str:
    """``metrics.csv`` content: one row per file and model, empty cells for missing values."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = r.get(c, "")
            if isinstance(v, float):
                v = "" if math.isnan(v) else ("inf" if v == math.inf else
                                              "-inf" if v == -math.inf else f"{v:.6g}")
            cells.append(v)
        w.writerow(cells)
    return buf.getvalue()


def summary_tables(summary: dict) -> list:
    """:func:`summary_table` of every set of a :func:`summarize_sets` summary (one table when
    there is one set), then :func:`paired_tables` when the summary has a ``"paired"``
    section."""
    sets = summary.get("sets") or {}
    if len(sets) <= 1:
        tables = [summary_table(summary)]
    else:
        tables = [summary_table(entry, f"rnnoise-kit compare: {SET_TITLES[name].lower()}")
                  for name, entry in sets.items()]
    if summary.get("paired"):
        tables += paired_tables(summary["paired"])
    return tables


def summary_table(summary: dict, title: str = "rnnoise-kit compare: means per model"):
    """A rich Table of the per-model means, the best value per column in bold green."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("model", style="bold")
    table.add_column("files", justify="right")
    for m in METRICS:
        table.add_column(TITLES[m], justify="right")
    for label, entry in summary["models"].items():
        cells = [label, str(entry["files"])]
        for m in METRICS:
            text = fmt(m, entry.get(m))
            if summary["best"].get(m) == label and m in HIGHER_IS_BETTER:
                text = f"[bold green]{text}[/]"
            cells.append(text)
        table.add_row(*cells)
    return table


# --------------------------------------------------------------------------- paired differences


def _paired_title(section: dict) -> str:
    return (f"against {section['against']}: mean difference "
            f"[{100 * section['confidence']:g} % CI], share of files better")


def _paired_caption(section: dict) -> str:
    """What a paired table shows, in one line."""
    return (f"Each row minus {section['against']}, file by file. Interval: "
            f"{100 * section['confidence']:g} % percentile bootstrap of the mean difference "
            f"({section['resamples']} resamples of the paired files); marked (green: better, "
            "red: worse) where it excludes 0. %: share of files where the row is better "
            "(ties count half).")


def _paired_metrics(models: dict[str, dict]) -> list[str]:
    """The metrics of a set's paired section that have pairs for some row, in report order."""
    return [m for m in PAIRED if any((e.get(m) or {}).get("n") for e in models.values())]


def paired_verdict(metric: str, entry: dict) -> int:
    """1 when the interval of a paired difference lies on the better side of 0, -1 on the
    worse side, 0 when it holds 0 (or there are no pairs).

    Parameters
    ----------
    metric : str
        A name of :data:`~rnnoise_kit.evaluation.schema.PAIRED` (gives the direction).
    entry : dict
        One metric's entry of :func:`~rnnoise_kit.evaluation.paired.paired_differences`.

    Returns
    -------
    int
    """
    if not entry or entry.get("ci") is None:
        return 0
    low, high = entry["ci"]
    side = 1 if low > 0 else -1 if high < 0 else 0
    return side if BY_NAME[metric].higher_is_better else -side


def paired_cell(metric: str, entry: dict) -> tuple[str, str, str]:
    """The texts of one paired difference: mean, interval and share of files better.

    Returns
    -------
    tuple of str
        ``("+0.012", "[-0.003, +0.027]", "60 %")``; ``("-", "", "")`` without pairs.
    """
    if not entry or entry.get("mean") is None:
        return fmt(metric, None), "", ""
    low, high = entry["ci"]
    return (fmt(metric, entry["mean"], signed=True),
            f"[{fmt(metric, low, signed=True)}, {fmt(metric, high, signed=True)}]",
            f"{100 * entry['wins']:.0f} %")


def paired_tables(section: dict) -> list:
    """A rich Table per set of a ``summary["paired"]`` section
    (:func:`~rnnoise_kit.evaluation.paired.paired_differences`), one line per compared row
    and metric (a terminal is too narrow for a column per metric): files paired, mean
    difference, interval, share of files better; a difference whose interval excludes 0 in
    bold, green when better, red when worse."""
    from rich.table import Table

    tables = []
    sets = section["sets"]
    for name, models in sets.items():
        title = f"rnnoise-kit compare {_paired_title(section)}"
        if len(sets) > 1:
            title += f"; {SET_TITLES[name].lower()}"
        table = Table(title=title, caption=_paired_caption(section))
        table.add_column("model", style="bold")
        table.add_column("metric")
        table.add_column("files", justify="right")
        table.add_column("difference", justify="right")
        table.add_column(f"{100 * section['confidence']:g} % CI", justify="right")
        table.add_column("better", justify="right")
        shown = _paired_metrics(models)
        for label, entries in models.items():
            for i, m in enumerate(shown):
                mean, interval, wins = paired_cell(m, entries[m])
                style = {1: "bold green", -1: "bold red"}.get(paired_verdict(m, entries[m]))
                table.add_row(label if i == 0 else "", TITLES[m], str(entries[m]["n"]),
                              f"[{style}]{mean}[/]" if style else mean, interval, wins,
                              end_section=i == len(shown) - 1)
        tables.append(table)
    return tables


# --------------------------------------------------------------------------- charts


def _save_fig(fig, path: Path) -> None:
    plt = matplotlib_pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _chart_panels(plt):
    """A figure with one panel per :data:`CHART_METRICS` entry, four to a row."""
    rows = -(-len(CHART_METRICS) // 4)
    fig, axes = plt.subplots(rows, 4, figsize=(14, 3 * rows), constrained_layout=True,
                             squeeze=False)
    for ax in axes.flat[len(CHART_METRICS):]:
        ax.set_visible(False)
    return fig, list(zip(axes.flat, CHART_METRICS, strict=False))


def chart_means(path: Path, summary: dict, labels: Sequence[str]) -> None:
    """Bar charts of the per-model means, one panel per metric."""
    plt = matplotlib_pyplot()
    fig, panels = _chart_panels(plt)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in panels:
        vals = [summary["models"][lab].get(m) for lab in labels]
        heights = [np.nan if v is None else v for v in vals]
        ax.bar(range(len(labels)), heights,
               color=[colors[i % len(colors)] for i in range(len(labels))])
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(TITLES[m], fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    _save_fig(fig, path)


def chart_per_snr(path: Path, rows: Sequence[dict], labels: Sequence[str]) -> bool:
    """Metric against input SNR, one line per model; False (nothing written) without SNRs."""
    snr_rows = [r for r in rows if np.isfinite(r.get("snr", math.nan))]
    if not snr_rows:
        return False
    plt = matplotlib_pyplot()
    snrs = np.array([r["snr"] for r in snr_rows])
    n_files = len({r["file"] for r in snr_rows})
    n_bins = 0 if n_files <= 12 else min(8, max(2, n_files // 4))
    edges = np.linspace(snrs.min(), snrs.max() + 1e-9, n_bins + 1) if n_bins else None
    fig, panels = _chart_panels(plt)
    for ax, m in panels:
        for label in labels:
            pts = sorted((r["snr"], r.get(m, math.nan)) for r in snr_rows
                         if r["model"] == label)
            pts = [(s, v) for s, v in pts if np.isfinite(v)]
            if not pts:
                continue
            x, y = np.array(pts).T
            if edges is None:
                ax.plot(x, y, marker="o", ms=3, label=label)
            else:
                ax.scatter(x, y, s=4, alpha=0.25)
                idx = np.clip(np.digitize(x, edges) - 1, 0, n_bins - 1)
                cx = [(edges[i] + edges[i + 1]) / 2 for i in range(n_bins) if np.any(idx == i)]
                cy = [y[idx == i].mean() for i in range(n_bins) if np.any(idx == i)]
                ax.plot(cx, cy, marker="o", ms=3, label=label)
        ax.set_title(TITLES[m], fontsize=10)
        ax.set_xlabel("input SNR (dB)", fontsize=8)
        ax.grid(alpha=0.3)
    panels[0][0].legend(fontsize=8)
    _save_fig(fig, path)
    return True


# --------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1500px}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}
td.best,td.better{font-weight:bold;background:#e3f5e1}
td.worse{font-weight:bold;background:#fbe3e1}
table.paired td{white-space:nowrap}
.sig{display:grid;grid-template-columns:22em 1fr;gap:.4em 1em;align-items:center}
.sig img{width:100%;max-width:1000px;height:auto;border:1px solid #ddd;display:block}
.file{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
.note{color:#555;font-size:90%}
audio{width:320px;height:32px}
img.chart{max-width:100%}
"""


def _table_html(rows: Sequence[tuple[str, dict]], metrics: Sequence[str],
                extra: Sequence[str] = ()) -> str:
    best: dict[str, float] = {}
    for m in metrics:
        if m in HIGHER_IS_BETTER:
            vals = _finite(r.get(m, math.nan) for _, r in rows)
            if vals.size:
                best[m] = float(vals.max())
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("model", *extra)) + "".join(
        f"<th>{html.escape(TITLES[m])}</th>" for m in metrics)
    body = []
    for label, r in rows:
        cells = [f"<td>{html.escape(label)}</td>"]
        cells += [f"<td>{html.escape(str(r.get(e, '')))}</td>" for e in extra]
        for m in metrics:
            v = r.get(m)
            is_best = (m in best and v is not None and np.isfinite(v) and v == best[m])
            cls = ' class="best"' if is_best else ""
            cells.append(f"<td{cls}>{fmt(m, v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>\n" + "\n".join(body) + "</table>"


def _paired_html(section: dict, name: str, many_sets: bool) -> list[str]:
    """Heading, caption and table of one set's paired differences."""
    models = section["sets"][name]
    shown = _paired_metrics(models)
    title = _paired_title(section)
    title = title[0].upper() + title[1:] + (f"; {SET_TITLES[name].lower()}" if many_sets else "")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("model", "files")) + "".join(
        f"<th>{html.escape(TITLES[m])}</th>" for m in shown)
    body = []
    for label, entries in models.items():
        n = max((entries[m]["n"] for m in shown), default=0)
        cells = [f"<td>{html.escape(label)}</td>", f"<td>{n}</td>"]
        for m in shown:
            mean, interval, wins = paired_cell(m, entries[m])
            cls = {1: ' class="better"', -1: ' class="worse"'}.get(
                paired_verdict(m, entries[m]), "")
            text = " ".join(t for t in (mean, interval, wins) if t)
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return [f"<h2>{html.escape(title)}</h2>",
            f'<p class="note">{html.escape(_paired_caption(section))}</p>',
            f'<table class="paired"><tr>{head}</tr>\n' + "\n".join(body) + "</table>"]


def _url(rel: str) -> str:
    return html.escape(quote(rel), quote=True)


def render_html(summary: dict, rows: Sequence[dict], labels: Sequence[str], files,
                media: dict[str, dict], charts: Sequence[str]) -> str:
    """The report page (static HTML, no script; every link relative)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>rnnoise-kit compare</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>rnnoise-kit compare</h1>",
        f'<p class="note">{summary["files"]} file(s); rows: {html.escape(", ".join(labels))}'
        f'; made {html.escape(summary.get("created", ""))}. Data: '
        '<a href="metrics.csv">metrics.csv</a>, <a href="summary.json">summary.json</a>. '
        "Higher is better in every marked column (best value in bold green); "
        f"intrusive metrics ({', '.join(BY_NAME[m].label for m in INTRUSIVE)}) need a clean "
        f"reference and are computed at {METRIC_RATE / 1000:g} kHz after aligning each output "
        "to it.</p>",
    ]
    sets = summary.get("sets") or {TEST_SET: summary}
    for name, entry in sets.items():
        title = "Means per model" + (f": {SET_TITLES[name].lower()}" if len(sets) > 1 else "")
        shown = [m for m in METRICS if any(entry["models"][lab].get(m) is not None
                                           for lab in labels)] if len(sets) > 1 else METRICS
        parts += [f"<h2>{html.escape(title)}</h2>",
                  _table_html([(lab, entry["models"][lab]) for lab in labels], shown,
                              extra=("files",))]
    section = summary.get("paired")
    if section:
        for name in section["sets"]:
            parts += _paired_html(section, name, len(section["sets"]) > 1)
    if summary.get("failed"):
        parts.append("<h2>Failed files</h2><ul>" + "".join(
            f"<li>{html.escape(k)}: {html.escape(v)}</li>"
            for k, v in summary["failed"].items()) + "</ul>")
    parts.append("<h2>Charts</h2>")
    for rel, alt in charts:
        parts.append(f"<h3>{html.escape(alt.capitalize())}</h3>"
                     f'<p><img class="chart" src="{_url(rel)}" alt="{html.escape(alt)}"></p>')
    parts.append("<h2>Files</h2>")
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    for it in files:
        frows = by_file.get(it.name, [])
        snr = "" if it.snr is None else f" &mdash; input SNR {it.snr:.1f} dB"
        parts.append(f'<div class="file" id="{html.escape(it.key)}">'
                     f"<h3>{html.escape(it.name)}{snr}</h3>")
        parts.append(_table_html([(r["model"], r) for r in frows], METRICS))
        parts.append('<div class="sig">')
        order = [lab for lab in (BASELINE, CLEAN, *labels[1:]) if lab in media.get(it.key, {})]
        for lab in order:
            m = media[it.key][lab]
            img = (f'<img src="{_url(m["spectrogram"])}" alt="mel spectrogram, '
                   f'{html.escape(lab)}">' if "spectrogram" in m else "")
            parts.append(f"<div><b>{html.escape(lab)}</b><br>"
                         f'<audio controls preload="metadata" src="{_url(m["audio"])}">'
                         "</audio></div>"
                         f"<div>{img}</div>")
        parts.append("</div></div>")
    parts.append(f'<p class="note">Spectrograms: mel scale, 0 Hz to {SPEC_MAX_HZ / 1000:g} kHz '
                 f"(or the Nyquist frequency) bottom to top, {SPEC_RANGE_DB:.0f} dB colour "
                 "range shared by the signals of a file.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def check_report_folder(out: Path) -> None:
    """Refuse, before any work, a report folder whose report entries (``audio/``,
    ``index.html``, ...) are someone else's files: a new report replaces those entries
    whole, so they must be an earlier report's (its ``index.html`` says so).

    Raises
    ------
    OutputError
        ``out`` is a file, or holds report entries without an rnnoise-kit ``index.html``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    taken = [name for name in ENTRIES if (out / name).exists() or (out / name).is_symlink()]
    if not taken:
        return
    try:
        with open(out / INDEX, encoding="utf-8", errors="replace") as f:
            ours = _TITLE in f.read(4096)
    except OSError:
        ours = False
    if not ours:
        raise OutputError(out, f"holds {taken[0]} but no rnnoise-kit report that a new one "
                               "would replace; choose a new or empty folder")


def write_report(out: Path, rows: Sequence[dict], summary: dict, labels: Sequence[str],
                 files, media: dict[str, dict], failures: dict[str, str] | None = None
                 ) -> Path:
    """Write ``metrics.csv``, ``summary.json``, the charts and ``index.html`` into ``out``.

    Returns
    -------
    Path
        The ``index.html`` path.
    """
    out = Path(out)
    atomic_write_text(out / "metrics.csv", metrics_csv_text(rows))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False,
                                                       default=str) + "\n")
    charts = []
    chart_means(out / "charts" / "means.png", summary, labels)
    charts.append(("charts/means.png", "means per model"))
    if chart_per_snr(out / "charts" / "per_snr.png", rows, labels):
        charts.append(("charts/per_snr.png", "metrics against input SNR"))
    index = out / "index.html"
    atomic_write_text(index, render_html(summary, rows, labels, files, media, charts))
    return index
