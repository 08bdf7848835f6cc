"""DNSMOS P.835 (Reddy et al. 2022): non-intrusive SIG, BAK and OVRL scores, 1 to 5.

The ONNX model (``sig_bak_ovr.onnx``) and the polynomial calibration are those that ship
with the ``speechmos`` package; the model file is located with ``importlib`` (speechmos is
not imported, so nothing touches the network) and run with onnxruntime, one thread.
Scoring follows Microsoft's ``dnsmos_local.py``: 16 kHz audio in [-1, 1], windows of
9.01 s every 1 s (shorter clips are tiled to 9.01 s), each window's scores calibrated
by the P.835 polynomials, then averaged over windows.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.io import resample
from rnnoise_kit.errors import InputError
from rnnoise_kit.evaluation._deps import _HINT, require

DNSMOS_RATE = 16000
WINDOW_S = 9.01
_POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_POLY_OVR = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


def model_path() -> Path:
    """Path of speechmos's ``dnsmos_models/sig_bak_ovr.onnx`` (speechmos not imported)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(None, f"speechmos (DNSMOS models) is not installed ({_HINT})")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "dnsmos_models" / "sig_bak_ovr.onnx"
        if path.is_file():
            return path
    raise InputError(None, f"speechmos has no dnsmos_models/sig_bak_ovr.onnx ({_HINT})")


class Dnsmos:
    """A loaded DNSMOS P.835 model; call it on audio.

    Parameters
    ----------
    path : path-like, optional
        The ONNX model (default: the one inside speechmos).
    threads : int
        onnxruntime intra-op threads.
    """

    def __init__(self, path: str | Path | None = None, threads: int = 1):
        ort = require("onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = Path(path) if path is not None else model_path()
        self._session = ort.InferenceSession(str(self.path), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, audio: np.ndarray, rate: int) -> dict[str, float]:
        """Score ``audio``.

        Parameters
        ----------
        audio : np.ndarray, shape (n,) or (n, ch)
            Float samples in [-1, 1] (channels are averaged).
        rate : int

        Returns
        -------
        dict
            ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl`` (NaN for an empty signal).
        """
        x = np.asarray(audio, dtype=np.float64)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if rate != DNSMOS_RATE:
            x = resample(x, rate, DNSMOS_RATE)
        x = np.clip(x, -1.0, 1.0)
        if x.size == 0:
            return {"dnsmos_sig": math.nan, "dnsmos_bak": math.nan, "dnsmos_ovrl": math.nan}
        win = int(WINDOW_S * DNSMOS_RATE)
        if x.size < win:
            x = np.tile(x, -(-win // x.size))
        n_hops = int(np.floor(x.size / DNSMOS_RATE) - WINDOW_S) + 1
        scores = []
        for i in range(max(1, n_hops)):
            # the reference's float indexing, kept so that scores match it exactly (it
            # drops a window when rounding makes it one sample short)
            seg = x[int(i * DNSMOS_RATE): int((i + WINDOW_S) * DNSMOS_RATE)]
            if seg.size < win:
                continue
            out = self._session.run(None, {self._input: seg.astype(np.float32)[None, :]})
            scores.append(np.asarray(out[0], dtype=np.float64).reshape(-1)[:3])
        if not scores:
            return {"dnsmos_sig": math.nan, "dnsmos_bak": math.nan, "dnsmos_ovrl": math.nan}
        raw = np.array(scores)  # calibrated per window, then averaged (as the reference)
        return {
            "dnsmos_sig": float(np.mean(_POLY_SIG(raw[:, 0]))),
            "dnsmos_bak": float(np.mean(_POLY_BAK(raw[:, 1]))),
            "dnsmos_ovrl": float(np.mean(_POLY_OVR(raw[:, 2]))),
        }
