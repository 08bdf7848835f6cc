"""Frame analysis and the 42 RNNoise features (spec sections 2.2, 7, 8), offline and streaming.

Offline: :func:`analyse` takes any number of whole 480-sample frames and an
:class:`AnalysisState`, and returns a :class:`FrameAnalysis` with per-frame arrays. The state is
updated in place, so a long signal can be processed in consecutive blocks; the results are
identical to one call on the whole signal. Streaming: :class:`StreamingAnalyzer` feeds one frame
at a time through the same kernels, so both paths agree bit for bit.

How the offline path is organised (all sums in RNNoise's sequential float32 order):

1. high-pass biquad over the block (numba, sequential);
2. windowed frames -> batched float32 ``scipy.fft.rfft`` -> X;
3. pitch per frame (numba): downsample + LPC whitening, coarse/fine search, remove_doubling
   (sequential through the previous period/gain);
4. pitch-delayed frames -> batched rfft -> P;
5. band energies/correlations, Exp normalisation, DCTs, log spectrum, silence rule, cepstral
   ring, deltas and spectral variability (numba, sequential through the ring).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp import _kissfft as KF
from rnnoise_kit.dsp._analysis import (
    AnalysisSpec,
    AnalysisStateBase,
    FrameAnalysisBase,
    FrameResultBase,
    StreamingAnalyzerBase,
    analyse_frames,
    as_frames,
    dump_table,
    features_table,
    lowpass_array,
)
from rnnoise_kit.dsp._block import analyse_block, band_energy_windowed
from rnnoise_kit.dsp.bands import BANDS, BandLayout, band_energy, band_rows, spectra_rows
from rnnoise_kit.dsp.constants import (
    CEPS_MEM,
    FRAME_SIZE,
    FREQ_SIZE,
    NB_BANDS,
    NB_FEATURES,
)
from rnnoise_kit.dsp.tables import WINDOW
from rnnoise_kit.errors import AudioError

__all__ = [
    "AnalysisState",
    "FrameAnalysis",
    "FrameResult",
    "StreamingAnalyzer",
    "analyse",
    "frame_analysis",
    "frame_spectra",
    "pitch_filter",
    "features_table",
    "dump_features",
    "dump_features_file",
]

_F32 = np.float32


@dataclass
class AnalysisState(AnalysisStateBase):
    """State carried from frame to frame by ``compute_frame_features`` (and the high-pass): the
    shared fields (:class:`~rnnoise_kit.dsp._analysis.AnalysisStateBase`) and the cepstral ring.

    Attributes
    ----------
    cepstral_mem : (8, 22) float32
    memid : int
    """

    cepstral_mem: np.ndarray = field(
        default_factory=lambda: np.zeros((CEPS_MEM, NB_BANDS), np.float32)
    )
    memid: int = 0


@dataclass
class FrameResult(FrameResultBase):
    """One frame of :class:`FrameAnalysis` (arrays without the leading n axis)."""


@dataclass
class FrameAnalysis(FrameAnalysisBase):
    """Per-frame results of :func:`analyse` for n frames: 22 bands (Ex, Ep, Exp (n, 22)), 42
    features (n, 42); fields as :class:`~rnnoise_kit.dsp._analysis.FrameAnalysisBase`."""

    result_type = FrameResult


def _block(xp, n, st, training, lowpass, out):
    """v0.1's :data:`~rnnoise_kit.dsp._analysis.BlockKernel` (carries the cepstral ring)."""
    last_period, last_gain, memid = analyse_block(
        xp, n, int(st.last_period), _F32(st.last_gain), training, lowpass,
        st.cepstral_mem, int(st.memid),
        out.X.view(np.float32), out.P.view(np.float32), out.Ex, out.Ep, out.Exp, out.features,
        out.silence, out.pitch_period, out.pitch_gain, out.energy,
    )  # fmt: skip
    st.memid = int(memid)
    return last_period, last_gain


ANALYSIS = AnalysisSpec(NB_BANDS, NB_FEATURES, AnalysisState, FrameAnalysis, _block)
"""v0.1's analysis for the shared driver (:mod:`rnnoise_kit.dsp._analysis`)."""


def _spectra(buf: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(n, 481) complex64 spectra of the windowed ``buf[starts[t] : starts[t] + 960]``."""
    out = np.empty((starts.shape[0], 2 * FREQ_SIZE), dtype=np.float32)
    # same bits either way; 16 frames per SIMD pass from a few frames on
    fwd = KF.forward_windowed_lanes if starts.shape[0] >= 4 else KF.forward_windowed
    fwd(buf, starts.astype(np.int64), WINDOW, out)
    return out.view(np.complex64)


def _zero_above(X: np.ndarray, lowpass: np.ndarray | None) -> None:
    if lowpass is None:
        return
    mask = np.arange(FREQ_SIZE)[None, :] >= lowpass[:, None]
    X[mask] = 0


def analyse(
    x: np.ndarray,
    state: AnalysisState | None = None,
    *,
    highpass: bool = True,
    training: bool = False,
    lowpass: np.ndarray | int | None = None,
) -> FrameAnalysis:
    """Analyse consecutive frames: ``compute_frame_features`` for each (offline, vectorised).

    :func:`~rnnoise_kit.dsp._analysis.analyse_frames` with v0.1's :data:`ANALYSIS` (same
    parameters). ``training=True``: the TRAINING build, no silence early return (features kept,
    ``silence = float(E) < 0.1``); ``lowpass`` affects X, Ex, Exp and the cepstrum, not P.

    Returns
    -------
    FrameAnalysis
    """
    return analyse_frames(ANALYSIS, x, state, highpass=highpass, training=training,
                          lowpass=lowpass)


def frame_spectra(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The spectra of ``frame_analysis`` (both generations): window, KISS FFT, low-pass.

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int or (n,) int array, optional
        ``X[lowpass:481] = 0`` per frame.

    Returns
    -------
    X : (n, 481) complex64
    analysis_mem : (480,) float32
        The state for the next block.
    """
    x, n = as_frames(x)
    mem = np.zeros(FRAME_SIZE, np.float32) if analysis_mem is None else analysis_mem
    buf = np.concatenate([np.asarray(mem, np.float32), x])
    X = _spectra(buf, FRAME_SIZE * np.arange(n))
    _zero_above(X, lowpass_array(lowpass, n))
    return X, buf[buf.shape[0] - FRAME_SIZE :].copy()


def frame_analysis(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
    layout: BandLayout = BANDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``frame_analysis`` alone (no pitch, no features): what training does for speech and
    noise. :func:`frame_spectra` (same parameters; the low-pass acts before the band
    energies), then :func:`~rnnoise_kit.dsp.bands.band_energy` over ``layout``'s bands.

    Returns
    -------
    X : (n, 481) complex64
    Ex : (n, nb_bands) float32
    analysis_mem : (480,) float32
        The state for the next block.
    """
    X, mem = frame_spectra(x, analysis_mem, lowpass)
    return X, band_energy(X, layout), mem


def frame_band_energy(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The band energies of :func:`frame_analysis` without the spectra (faster, same bits).

    What the training generator needs for its speech and noise states (``Ey``, ``En``).

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int, optional
        Bins >= lowpass count as zero (the TRAINING build's ``X[lowpass:481] = 0``), the same
        for every frame of the call.

    Returns
    -------
    Ex : (n, 22) float32
    analysis_mem : (480,) float32
        The state for the next block.
    """
    x, n = as_frames(x)
    buf = np.empty(FRAME_SIZE + x.shape[0], dtype=np.float32)
    buf[:FRAME_SIZE] = 0 if analysis_mem is None else analysis_mem
    buf[FRAME_SIZE:] = x
    ex = np.empty((n, NB_BANDS), dtype=np.float32)
    band_energy_windowed(buf, FREQ_SIZE if lowpass is None else int(lowpass), ex)
    return ex, buf[buf.shape[0] - FRAME_SIZE :].copy()


def pitch_filter(
    X: np.ndarray,
    P: np.ndarray,
    Ex: np.ndarray,
    Ep: np.ndarray,
    Exp: np.ndarray,
    g: np.ndarray,
    layout: BandLayout = BANDS,
) -> np.ndarray:
    """RNNoise's ``pitch_filter`` (§8) on n frames; returns the new spectra (inputs untouched).

    Parameters
    ----------
    X, P : (n, 481) complex64
        The frames' spectrum and pitch-delayed spectrum.
    Ex, Ep, Exp : (n, nb_bands) float32
        Their band energies and normalised correlation (as the analysis returns them).
    g : (n, nb_bands) float32
        Raw network gains (before the ``lastg`` smoothing or 0.2's decay cap).
    layout : BandLayout
        The generation's bands (v0.1's by default; 0.2's: :func:`rnnoise_kit.dsp.v02.pitch_filter`).

    Returns
    -------
    np.ndarray, complex64, shape (n, 481)
        Bins 400..480 are zero.
    """
    if np.ndim(X) != 2:
        raise ValueError(f"X must have shape (n, {FREQ_SIZE}), got {np.shape(X)}")
    n, nb = np.shape(X)[0], layout.nb_bands
    out = layout.pitch_filter(
        spectra_rows(X, n, "X").view(np.float32), spectra_rows(P, n, "P").view(np.float32),
        band_rows(Ex, nb, n, "Ex"), band_rows(Ep, nb, n, "Ep"), band_rows(Exp, nb, n, "Exp"),
        band_rows(g, nb, n, "g"),
    )  # fmt: skip
    return out.view(np.complex64)


def apply_band_gains(
    X: np.ndarray, g: np.ndarray, silence: np.ndarray, lastg: np.ndarray
) -> None:
    """The ``lastg`` smoothing and the band gains of ``rnnoise_process_frame`` (spec section 9).

    Parameters
    ----------
    X : (n, 481) complex64, C-contiguous
        Spectra (after :func:`pitch_filter`), scaled in place; bins 400..480 become 0.
    g : (n, 22) float32
        Raw network gains.
    silence : (n,) bool
        Silent frames: left untouched, and ``lastg`` is not updated.
    lastg : (22,) float32
        The smoothing memory, updated in place (carried from block to block).
    """
    if X.dtype != np.complex64 or not X.flags.c_contiguous:
        raise ValueError("X must be a C-contiguous complex64 array")
    K.smooth_and_apply_gains(
        X.view(np.float32), np.ascontiguousarray(g, dtype=np.float32),
        np.ascontiguousarray(silence, dtype=np.bool_), lastg,
    )  # fmt: skip


class StreamingAnalyzer(StreamingAnalyzerBase):
    """Frame-by-frame v0.1 analysis with carried state; same results as :func:`analyse`
    (parameters: :class:`~rnnoise_kit.dsp._analysis.StreamingAnalyzerBase`)."""

    spec = ANALYSIS


# ----------------------------------------------------------------------------- dump-features

DUMP_COLUMNS = ANALYSIS.dump_columns  # 66


def dump_features(audio: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """Features table (:func:`features_table`, (n_frames, 66)) of int16-scale 48 kHz audio,
    inference path; see :func:`~rnnoise_kit.dsp._analysis.dump_table`."""
    return dump_table(ANALYSIS, audio, block_frames)


def dump_features_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    notes: list[str] | None = None,
    generation: str = "0.1",
) -> tuple[int, int]:
    """``rnnoise-kit dump-features``: write the per-frame float32 table as ``.npy``.

    Parameters
    ----------
    generation : str
        ``"0.1"``: :func:`dump_features`, (n_frames, 66); ``"0.2"``:
        :func:`rnnoise_kit.dsp.v02.dump_features_v02`, (n_frames, 99).

    Raises
    ------
    AudioError
        Missing, unreadable, empty or non-finite input, or shorter than one frame.
    OutputError
        The output is the input, does not end in ``.npy``, or cannot be written.

    Returns
    -------
    (int, int)
        Frames and columns written.
    """
    from rnnoise_kit.audio.io import read_mono_48k
    from rnnoise_kit.fileio import atomic_path, check_outputs, check_suffix

    if generation not in ("0.1", "0.2"):
        raise ValueError(f"unknown RNNoise generation {generation!r}")
    check_outputs([output_path], [input_path])
    check_suffix(output_path, (".npy",), "a NumPy array")
    audio = read_mono_48k(input_path, notes=notes)
    if audio.shape[0] < FRAME_SIZE:
        raise AudioError(
            input_path,
            f"shorter than one frame ({audio.shape[0]} < {FRAME_SIZE} samples at 48 kHz)",
        )
    if generation == "0.1":
        table = dump_features(audio)
    else:
        from rnnoise_kit.dsp.v02 import dump_features_v02

        table = dump_features_v02(audio)
    with atomic_path(output_path, inputs=[input_path]) as tmp, open(tmp, "wb") as fh:
        np.save(fh, table)
    return int(table.shape[0]), int(table.shape[1])
