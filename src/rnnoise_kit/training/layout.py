"""The 87 float32 columns of a training-matrix row (``denoise_training``'s output, spec section 12).

======== ======= ===========================================================
columns  slice   content
======== ======= ===========================================================
0-41     FEATURES  the 42 features of the noisy frame (the network's input)
42-63    GAINS     the 22 target band gains; -1 marks a band to ignore
64-85    NOISE     the 22 noise band log-energies ``log10(0.01 + En)``
86       VAD       the VAD target: 0, 0.5 or 1
======== ======= ===========================================================

Every module that builds, reads or slices rows takes these names from here (see also
``docs/training-matrix.md``).
"""

from __future__ import annotations

from rnnoise_kit.dsp.constants import NB_BANDS, NB_FEATURES

FEATURES = slice(0, NB_FEATURES)
"""The network's input features."""
GAINS = slice(FEATURES.stop, FEATURES.stop + NB_BANDS)
"""Target band gains (-1: ignore the band)."""
NOISE = slice(GAINS.stop, GAINS.stop + NB_BANDS)
"""Noise band log-energies ``log10(0.01 + En)``."""
VAD = slice(NOISE.stop, NOISE.stop + 1)
"""The VAD target, as a one-column slice (keeps a trailing axis of 1)."""
VAD_COL = VAD.start
"""Index of the VAD target column."""
ROW = VAD.stop
"""Columns of a row (87)."""

TARGET_GAIN_EPS = 1e-3
"""Added to both band energies of a target gain, ``min(1, sqrt((Ey + 1e-3) / (Ex + 1e-3)))``
(spec section 12): the oracle's and the teacher's (:mod:`rnnoise_kit.training.teacher`)."""

GROUPS: tuple[tuple[str, slice], ...] = (
    ("features", FEATURES),
    ("gains", GAINS),
    ("noise log-energy", NOISE),
    ("vad", VAD),
)
"""The column groups in order, with their names."""

DESCRIPTION = (f"{FEATURES.start}-{FEATURES.stop - 1} features, "
               f"{GAINS.start}-{GAINS.stop - 1} gains (-1 ignore), "
               f"{NOISE.start}-{NOISE.stop - 1} log10(0.01+En), {VAD_COL} vad")
"""One line for file attributes."""
