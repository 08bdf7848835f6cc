"""Paired differences between ``compare`` rows, with percentile-bootstrap confidence intervals.

A mean over 20 files moves by about as much as the differences between two models, so a
claim such as "model A beats ``std`` on DNSMOS OVRL by 0.01" needs an uncertainty. Every row
is compared with one reference row file by file: the difference on each file the two share
(both values finite), their mean, a percentile-bootstrap confidence interval of that mean
(the files resampled with replacement) and the share of files on which the row is better.
Pairing removes what the files themselves contribute (an easy file is easy for every model),
which is most of the spread between files.

Pure functions of the ``compare`` rows; :func:`~rnnoise_kit.evaluation.compare.compare`
stores the result as ``summary["paired"]`` and :mod:`~rnnoise_kit.evaluation.report` lays it
out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rnnoise_kit.errors import SettingError
from rnnoise_kit.evaluation.schema import BY_NAME, PAIRED, SET_TITLES, TEST_SET, Metric

DEFAULT_RESAMPLES = 10_000
"""Bootstrap resamples of the files."""
DEFAULT_CONFIDENCE = 0.95
"""Coverage of the confidence intervals."""
_MAX_CELLS = 1 << 22
"""Largest resample-by-file block drawn at once (bounds the memory for many files)."""


def check_against(against: str, labels: Sequence[str]) -> None:
    """Refuse a reference row that is not one of the rows.

    Raises
    ------
    SettingError
        ``against`` is not in ``labels``.
    """
    if against not in labels:
        raise SettingError("against", f"must be one of the rows {', '.join(labels)} "
                                      f"(got {against!r})")


def _value(v: object) -> float | None:
    """A row's cell as a finite float, or None (missing, empty, NaN, infinite)."""
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _bootstrap_means(diffs: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples of each column of ``diffs``.

    Every column is resampled with the same draws (rows chosen with replacement), from a
    generator seeded with ``seed``: a column's result depends on its values, its length,
    ``resamples`` and ``seed`` only.

    Parameters
    ----------
    diffs : np.ndarray, shape (n, k)
        ``k`` vectors of ``n`` paired differences.
    resamples : int
    seed : int

    Returns
    -------
    np.ndarray, shape (resamples, k)
    """
    n = diffs.shape[0]
    rng = np.random.default_rng(seed)
    step = max(1, _MAX_CELLS // n)
    out = np.empty((resamples, diffs.shape[1]))
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        picks = rng.integers(0, n, size=(rows, n))
        # how often each file is drawn in each resample: the resample means are one product
        picks += np.arange(rows)[:, None] * n
        counts = np.bincount(picks.ravel(), minlength=rows * n).reshape(rows, n)
        out[start:start + rows] = counts.astype(np.float64) @ diffs / n
    return out


def paired_differences(rows: Sequence[dict], labels: Sequence[str], against: str, *,
                       resamples: int = DEFAULT_RESAMPLES,
                       confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                       metrics: Sequence[Metric] | None = None) -> dict:
    """Every row against one reference row, file by file, with bootstrap intervals.

    For each set present (the ``"set"`` key of the rows, :data:`~rnnoise_kit.evaluation.schema.
    TEST_SET` when absent, in :data:`~rnnoise_kit.evaluation.schema.SET_TITLES` order), each
    label other than ``against`` and each metric, the files where both rows have a finite
    value are paired by their ``"file"`` name, and ``d = value - reference value`` per file.

    Parameters
    ----------
    rows : sequence of dict
        One per file and row, as ``compare`` makes them (``metrics.csv`` rows): keys
        ``"model"``, ``"file"``, ``"set"`` (optional) and the metric names; missing, empty,
        NaN and infinite values are left out of the pairing.
    labels : sequence of str
        Row labels in report order (``noisy`` first).
    against : str
        The reference row, one of ``labels``.
    resamples : int
        Bootstrap resamples (at least 1).
    confidence : float
        Coverage of the intervals, strictly between 0 and 1.
    seed : int
        Seed of the resampling: the same inputs and seed give the same intervals.
    metrics : sequence of Metric, optional
        The metrics compared (default: :data:`~rnnoise_kit.evaluation.schema.PAIRED`, the
        quality metrics with a direction). Each needs a ``higher_is_better`` of True or False.

    Returns
    -------
    dict
        JSON-ready::

            {"against": str, "confidence": float, "resamples": int, "seed": int,
             "sets": {set: {label: {metric: {
                 "n": int,                  # files paired
                 "mean": float | None,      # mean of d (None without pairs)
                 "ci": [low, high] | None,  # percentile-bootstrap interval of that mean
                 "wins": float | None,      # share of files where the row is better
             }}}}}

        ``wins`` follows the metric's direction (for a lower-is-better metric, a negative
        ``d`` is a win); files with ``d == 0`` count half.

    Raises
    ------
    SettingError
        ``against`` is not a label, ``resamples`` is below 1, ``confidence`` is not in
        (0, 1), or a metric has no direction.
    """
    check_against(against, labels)
    if resamples < 1:
        raise SettingError("resamples", f"must be at least 1 (got {resamples})")
    if not 0.0 < confidence < 1.0:
        raise SettingError("confidence", f"must be between 0 and 1 (got {confidence})")
    chosen = tuple(BY_NAME[m] for m in PAIRED) if metrics is None else tuple(metrics)
    for m in chosen:
        if m.higher_is_better is None:
            raise SettingError("metrics", f"holds {m.name}, which has no better direction")
    present = [s for s in SET_TITLES if any(r.get("set", TEST_SET) == s for r in rows)]
    others = [lab for lab in labels if lab != against]

    # values[set][label][metric] = {file: value}
    values: dict[str, dict[str, dict[str, dict[str, float]]]] = {
        s: {lab: {m.name: {} for m in chosen} for lab in labels} for s in present}
    for r in rows:
        table = values.get(r.get("set", TEST_SET), {}).get(r.get("model"))
        if table is None:
            continue
        for m in chosen:
            v = _value(r.get(m.name))
            if v is not None:
                table[m.name][r["file"]] = v

    sets: dict[str, dict] = {s: {lab: {} for lab in others} for s in present}
    by_length: dict[int, list[tuple[str, str, str, np.ndarray]]] = {}
    for s in present:
        ref = values[s][against]
        for lab in others:
            for m in chosen:
                mine, theirs = values[s][lab][m.name], ref[m.name]
                files = sorted(mine.keys() & theirs.keys())
                d = np.array([mine[f] - theirs[f] for f in files], dtype=np.float64)
                entry: dict = {"n": len(files), "mean": None, "ci": None, "wins": None}
                sets[s][lab][m.name] = entry
                if not files:
                    continue
                better = np.sign(d) if m.higher_is_better else -np.sign(d)
                entry["mean"] = float(d.mean())
                entry["wins"] = float((np.sum(better > 0) + 0.5 * np.sum(better == 0)) / d.size)
                by_length.setdefault(d.size, []).append((s, lab, m.name, d))

    tail = (1.0 - confidence) / 2.0
    for group in by_length.values():
        means = _bootstrap_means(np.stack([d for *_, d in group], axis=1), resamples, seed)
        low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
        for (s, lab, name, d), lo, hi in zip(group, low, high, strict=True):
            # a resample's mean lies within the differences; keep rounding from leaving them
            sets[s][lab][name]["ci"] = [float(np.clip(lo, d.min(), d.max())),
                                        float(np.clip(hi, d.min(), d.max()))]
    return {"against": against, "confidence": confidence, "resamples": resamples, "seed": seed,
            "sets": sets}
