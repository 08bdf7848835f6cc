"""Teacher targets: an RNNoise 0.2 model's gains blended into a v0.1 matrix's target gains.

Distillation from the newest RNNoise. The 0.2 network (three GRUs of 384 units, a convolution
over two frames of lookahead) hears each noisy frame the v0.1 generator makes; its 32 band
gains, spread over the bins and summed into v0.1's 22 bands, become a second target beside the
oracle one (clean over noisy band energy):

``target = (1 - weight) * oracle + weight * teacher``, wherever the oracle target is not ``-1``;
with a ``pause_weight``, rows whose VAD target is 0 (no speech) take that weight instead.

What the teacher adds is what the oracle lacks: the oracle is the ideal gain of each band of
each frame, which a causal 22-band network cannot follow (it flickers with every noise
burst), while the teacher's gains are what a good network of that kind does reach, smooth in
time and cautious in pauses. Measured on held-out generated speech (docs/models.md): fine-tuning
``std`` on rows with weight 0.25-0.5 raised PESQ-WB and DNSMOS OVRL above ``std`` and above the
same fine-tuning on oracle targets, and cost a little SI-SDR and, on real recordings, SIG.

Alignment
---------
RNNoise 0.2 applies the gains it computes at frame ``t + 1`` to frame ``t`` (its analysis
keeps one frame of lookahead): the teacher of row ``t`` is the output of frame ``t + 1``,
applied to frame ``t``'s spectrum. The last row of each shard has no next frame in its shard
and keeps its oracle target, as does any row whose next frame the 0.2 analysis found silent
(the network does not run there).

Band mapping
------------
0.2's gains per bin (:func:`rnnoise_kit.dsp.v02.analysis.interp_band_gain`, its 32 triangles)
weight the noisy spectrum ``X`` of the frame; the v0.1 band gain is the amplitude ratio of
v0.1's band energies, regularised as the oracle's (``+1e-3``) and capped at 1:
``sqrt((E22(X * g) + 1e-3) / (E22(X) + 1e-3))``.

The 0.2 analysis runs without its input high-pass: the generator's signals are high-passed
already (spec section 12), as for the v0.1 features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rnnoise_kit.dsp import bands as bands01
from rnnoise_kit.dsp.constants import FRAME_SIZE
from rnnoise_kit.dsp.v02.analysis import AnalysisState02, analyse_v02, interp_band_gain
from rnnoise_kit.errors import SettingError
from rnnoise_kit.training.layout import GAINS, TARGET_GAIN_EPS, VAD_COL

ALIGNMENT = ("row t: 0.2 output of frame t+1 (its lookahead), on frame t's noisy spectrum; "
             "last row of a shard and rows before a silent frame keep the oracle target")


@dataclass(frozen=True)
class Teacher:
    """The teacher of a run.

    Parameters
    ----------
    model : str
        An RNNoise 0.2 model: a public name (``rnnoise-0.2``, imported from pyrnnoise) or a
        file (weight blob or ``rnnoise_data.c``).
    weight : float
        Share of the teacher in each target, in (0, 1]; with ``pause_weight``, in the rows
        with speech (VAD target above 0), in [0, 1].
    pause_weight : float, optional
        Share of the teacher in the rows without speech (VAD target 0), in [0, 1]; None: the
        same as ``weight``. The two may not both be 0.
    """

    model: str = "rnnoise-0.2"
    weight: float = 0.35
    pause_weight: float | None = None

    def __post_init__(self) -> None:
        w = float(self.weight)
        if self.pause_weight is None:
            if not (0.0 < w <= 1.0):
                raise SettingError("teacher_weight", f"must be in (0, 1], not {self.weight}")
            return
        p = float(self.pause_weight)
        for name, v, given in (("teacher_weight", w, self.weight),
                               ("teacher_pause_weight", p, self.pause_weight)):
            if not (0.0 <= v <= 1.0):
                raise SettingError(name, f"must be in [0, 1], not {given}")
        if w == 0.0 and p == 0.0:
            raise SettingError("teacher_weight", "and teacher_pause_weight are both 0 (the "
                                                 "teacher would teach nothing)")

    @classmethod
    def of(cls, model: str | None, weight: float | None = None,
           pause_weight: float | None = None) -> Teacher | None:
        """The teacher of optional settings (a command line's, a run's): None without a model;
        ``weight`` None takes the default, ``pause_weight`` None the weight."""
        if model is None:
            for name, v in (("teacher_weight", weight), ("teacher_pause_weight", pause_weight)):
                if v is not None:
                    raise SettingError(name, "needs a teacher model")
            return None
        weights = {} if weight is None else {"weight": weight}
        return cls(model, **weights, pause_weight=pause_weight)

    @property
    def weights(self) -> tuple[float, float]:
        """(speech rows' weight, pause rows' weight)."""
        w = float(self.weight)
        return w, (w if self.pause_weight is None else float(self.pause_weight))

    @property
    def weight_text(self) -> str:
        """The weights in words: ``weight 0.35``, or ``weight 0.15, in pauses 1``."""
        speech, pause = self.weights
        return f"weight {speech:g}" + ("" if self.pause_weight is None else
                                       f", in pauses {pause:g}")

    def resolve(self) -> ResolvedTeacher:
        """The model's file, checked to be a 0.2 model (in the calling process, whose load of
        the weights its streams then share)."""
        from rnnoise_kit.fileio import sha256_file
        from rnnoise_kit.model.registry import model_path

        path = Path(model_path(self.model))
        resolved = ResolvedTeacher(self, str(path.resolve()), sha256_file(path))
        if getattr(_model(resolved.path, resolved.sha256), "generation", "0.1") != "0.2":
            raise SettingError("teacher", f"must be an RNNoise 0.2 model; {self.model} is a "
                                          f"v0.1 model")
        return resolved


@dataclass(frozen=True)
class ResolvedTeacher:
    """A :class:`Teacher` with its file found: what the workers get (a path, not weights)."""

    teacher: Teacher
    path: str
    sha256: str

    def describe(self) -> dict:
        """The matrix attributes of the teacher."""
        d = {"teacher": self.teacher.model, "teacher_sha256": self.sha256,
             "teacher_weight": float(self.teacher.weight), "teacher_alignment": ALIGNMENT}
        if self.teacher.pause_weight is not None:
            d["teacher_pause_weight"] = float(self.teacher.pause_weight)
        return d

    def stream(self) -> TeacherStream:
        """A fresh teacher for one generator stream (one shard)."""
        from rnnoise_kit.model.v02.network import Network02

        # a network of its own (Network02 keeps work buffers: one instance per thread), on the
        # weights the process shares: a Dask worker runs its shards in threads
        net = Network02(_layers(self.path, self.sha256))
        pause = self.teacher.pause_weight
        return TeacherStream(net, np.float32(self.teacher.weight), net.new_state(),
                             pause_weight=None if pause is None else np.float32(pause))


@lru_cache(maxsize=2)
def _model(path: str, sha256: str):
    """The model file, read once per process (``sha256``: the cache key of the contents)."""
    from rnnoise_kit.model.formats import load_model

    return load_model(path)


@lru_cache(maxsize=2)
def _layers(path: str, sha256: str):
    """The 0.2 network's weights in kernel form, made once per process."""
    from rnnoise_kit.model.v02.network import Network02

    return Network02(_model(path, sha256)).layers


def teacher_band_gains(X: np.ndarray, gains02: np.ndarray) -> np.ndarray:
    """v0.1 band gains of 0.2 band gains applied to spectra.

    Parameters
    ----------
    X : complex64 array (n, 481)
        The frames' noisy spectra.
    gains02 : float32 array (n, 32)
        0.2 band gains to apply to them.

    Returns
    -------
    float32 array (n, 22)
        ``sqrt((E22(X * g) + 1e-3) / (E22(X) + 1e-3))``, capped at 1 (module docstring).
    """
    g_bins = interp_band_gain(gains02)
    ex = bands01.band_energy(X).astype(np.float64)
    ey = bands01.band_energy((X * g_bins).astype(np.complex64)).astype(np.float64)
    r = np.sqrt((ey + TARGET_GAIN_EPS) / (ex + TARGET_GAIN_EPS))
    return np.minimum(r, 1.0).astype(np.float32)


@dataclass
class TeacherStream:
    """The teacher's state along one generator stream: 0.2 analysis and network states, and
    the last row of the previous block, which waits for the next frame's output."""

    network: object
    weight: np.float32
    net_state: object
    analysis: AnalysisState02 = field(default_factory=AnalysisState02)
    pause_weight: np.float32 | None = None
    """The weight of rows whose VAD target is 0; None: :attr:`weight`."""
    _last_X: np.ndarray | None = None
    _last_row: np.ndarray | None = None

    def blend(self, noisy: np.ndarray, rows: np.ndarray) -> None:
        """Blend the teacher into the target gains of ``rows``, for the next block of frames.

        Parameters
        ----------
        noisy : float32 array (n, 480)
            The block's noisy frames, as the v0.1 features saw them.
        rows : float32 array (n, 87)
            Its rows, oracle targets written; updated in place, all but the last row (which
            waits for the next block). The previous block's last row is updated now (kept as
            a view: the caller's array must live until the next call).
        """
        n = noisy.shape[0]
        if n == 0:
            return
        res = analyse_v02(np.ascontiguousarray(noisy).reshape(n * FRAME_SIZE),
                          self.analysis, highpass=False)
        g02, _ = self.network.process(res.features, res.silence, self.net_state)
        live = ~np.asarray(res.silence, bool)
        if self._last_row is not None:
            # output 0 teaches the previous block's last row, outputs 1..n-1 rows 0..n-2
            prev_X = np.concatenate([self._last_X[None], res.X[:-1]])
            teach = teacher_band_gains(prev_X, g02)
            _blend_into(self._last_row[None, GAINS], teach[:1], live[:1],
                        self._weights(self._last_row[None]))
            _blend_into(rows[:-1, GAINS], teach[1:], live[1:], self._weights(rows[:-1]))
        elif n > 1:
            teach = teacher_band_gains(res.X[:-1], g02[1:])
            _blend_into(rows[:-1, GAINS], teach, live[1:], self._weights(rows[:-1]))
        self._last_X = res.X[-1].copy()
        self._last_row = rows[-1]

    def _weights(self, rows: np.ndarray) -> np.float32 | np.ndarray:
        """The teacher's weight for each of ``rows`` (n, 87): (n, 1), or one for all."""
        if self.pause_weight is None:
            return self.weight
        pause = rows[:, VAD_COL] == 0
        return np.where(pause, self.pause_weight, self.weight).astype(np.float32)[:, None]


def _blend_into(target: np.ndarray, teach: np.ndarray, live: np.ndarray,
                w: np.float32 | np.ndarray) -> None:
    """``target = (1-w)*target + w*teach`` where target >= 0 and the teacher ran (in place);
    ``w`` one weight or one per row (n, 1)."""
    keep = (target >= 0) & live[:, None]
    mixed = (np.float32(1) - w) * target + w * teach
    np.copyto(target, mixed, where=keep)


def check_teacher(teacher: Teacher | None, compat: bool) -> None:
    """Refuse a teacher where the generator cannot use one."""
    if teacher is not None and compat:
        raise SettingError("teacher", "needs the default mode: compat mode reproduces "
                                      "denoise_training's oracle targets")


__all__ = ["ALIGNMENT", "ResolvedTeacher", "Teacher",
           "TeacherStream", "check_teacher", "teacher_band_gains"]
