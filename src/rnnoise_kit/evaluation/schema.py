"""The metrics of ``compare``: names, titles, directions and number formats, in report order.

:mod:`~rnnoise_kit.evaluation.compare` fills rows keyed by these names and
:mod:`~rnnoise_kit.evaluation.report` lays them out; both read this table, so a metric is added,
renamed or re-ordered here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BASELINE = "noisy"
"""Label of the untouched-input row."""
CLEAN = "clean"
"""Label of the clean reference signal (played and drawn, not scored)."""

TEST_SET = "test"
"""Set of the test items given as a ``mix`` folder or a noisy folder (clean references where
they exist): every metric."""
REAL_SET = "real"
"""Set of real recordings without clean references: DNSMOS and VAD only."""
SET_TITLES: dict[str, str] = {
    TEST_SET: "Test set",
    REAL_SET: "Real recordings (no clean reference: DNSMOS and VAD only)",
}
"""What the report calls each set."""


@dataclass(frozen=True)
class Metric:
    """One metric column.

    Attributes
    ----------
    name : str
        Key in the rows, column of ``metrics.csv``, key of ``summary.json``.
    label : str
        What the report calls it.
    unit : str
        Unit of its values ("" for none).
    higher_is_better : bool or None
        True: the highest value is the best and is marked. None: informative only, never marked.
    digits : int
        Decimals shown in tables.
    intrusive : bool
        Needs a clean reference (computed only where one exists).
    charted : bool
        Drawn in the report's charts.
    quality : bool
        Scores the output (False: the speed of the run, which says nothing of the output).
        Quality metrics with a direction are compared file by file against a reference row
        (:data:`PAIRED`).
    """

    name: str
    label: str
    unit: str = ""
    higher_is_better: bool | None = True
    digits: int = 3
    intrusive: bool = False
    charted: bool = True
    quality: bool = True

    @property
    def title(self) -> str:
        """Heading in tables and charts: the label and its unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("pesq", "PESQ-WB", intrusive=True),
    Metric("stoi", "STOI", intrusive=True),
    Metric("estoi", "eSTOI", intrusive=True),
    Metric("si_sdr", "SI-SDR", "dB", digits=2, intrusive=True),
    Metric("segsnr", "segSNR", "dB", digits=2, intrusive=True),
    Metric("dnsmos_sig", "DNSMOS SIG"),
    Metric("dnsmos_bak", "DNSMOS BAK"),
    Metric("dnsmos_ovrl", "DNSMOS OVRL"),
    Metric("vad_mean", "mean VAD", higher_is_better=None, charted=False),
    Metric("x_realtime", "x real time", digits=1, charted=False, quality=False),
)
"""Every metric, in report order."""

BY_NAME: dict[str, Metric] = {m.name: m for m in METRIC_TABLE}

METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE)
"""Metric columns, in report order."""
INTRUSIVE: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.intrusive)
"""Metrics that need a clean reference."""
HIGHER_IS_BETTER: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.higher_is_better)
"""Columns whose best value (the highest) is marked."""
PAIRED: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE
                                if m.quality and m.higher_is_better is not None)
"""Metrics compared file by file against a reference row (``compare --against``): the
quality metrics that have a better direction."""
CHART_METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.charted)
"""Metrics drawn in the charts, one panel each."""
TITLES: dict[str, str] = {m.name: m.title for m in METRIC_TABLE}
COLUMNS: tuple[str, ...] = ("model", "file", "snr", *METRICS, "delay", "duration", "set")
"""Columns of ``metrics.csv``."""


def fmt(metric: str, value: float | None, signed: bool = False) -> str:
    """Format a metric value for tables (``-`` when missing).

    Parameters
    ----------
    metric : str
        A name of :data:`METRICS` (decides the decimals).
    value : float or None
    signed : bool
        Write ``+`` before positive values (differences).

    Returns
    -------
    str
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return ("+inf" if signed else "inf") if value > 0 else "-inf"
    return f"{value:{'+' if signed else ''}.{BY_NAME[metric].digits}f}"
