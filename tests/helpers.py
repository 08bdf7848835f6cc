"""Small helpers shared by test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np


def snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """SNR of ``out`` against ``ref`` in dB (the error is ``out - ref``)."""
    ref = np.asarray(ref, dtype=np.float64)
    err = np.asarray(out, dtype=np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-12)))
