"""The 98 float32 columns of an RNNoise 0.2 training row (``dump_features``' output, spec
``rnnoise-v0.2.md`` sections 9 and 11).

======== ========= ===========================================================
columns  slice     content
======== ========= ===========================================================
0-64     FEATURES  the 65 features of the noisy frame (the network's input)
65-96    GAINS     the 32 target band gains; -1 marks a band to ignore
97       VAD       the VAD target: {0, 0.5, 1} at tag v0.2, {0, 1} at HEAD (Viterbi)
======== ========= ===========================================================

Rows come in sequences of :data:`SEQUENCE` frames (``dump_features``' last argument counts
sequences). Every module that builds, reads or slices 0.2 rows takes these names from here.
"""

from __future__ import annotations

from rnnoise_kit.dsp.v02.constants import NB_BANDS, NB_FEATURES

FEATURES = slice(0, NB_FEATURES)
"""The network's input features (65)."""
GAINS = slice(FEATURES.stop, FEATURES.stop + NB_BANDS)
"""Target band gains (32; -1: ignore the band)."""
VAD = slice(GAINS.stop, GAINS.stop + 1)
"""The VAD target, as a one-column slice (keeps a trailing axis of 1)."""
VAD_COL = VAD.start
"""Index of the VAD target column (97)."""
ROW = VAD.stop
"""Columns of a row (98)."""
SEQUENCE = 2000
"""Rows of one training sequence (``dump_features`` writes whole sequences)."""

GROUPS: tuple[tuple[str, slice], ...] = (
    ("features", FEATURES),
    ("gains", GAINS),
    ("vad", VAD),
)
"""The column groups in order, with their names."""

DESCRIPTION = (f"{FEATURES.start}-{FEATURES.stop - 1} features, "
               f"{GAINS.start}-{GAINS.stop - 1} gains (-1 ignore), {VAD_COL} vad")
"""One line for file attributes."""
