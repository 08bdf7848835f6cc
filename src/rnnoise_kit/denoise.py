"""The Denoiser: RNNoise v0.1 and 0.2 models on arrays, files and streams.

The model says which generation runs (``rnnoise_process_frame`` of librnnoise v0.1.1, or of
librnnoise 0.2 as in pyrnnoise); each generation is one :class:`FrameProcessor` and everything
around it (streaming, resampling, delay compensation, VAD threshold, attenuation limit, mix,
files) is shared:

* v0.1 (:class:`FrameProcessor01`, spec section 9): analysis (:func:`rnnoise_kit.dsp.analyse`),
  the network over the block (:class:`rnnoise_kit.model.Network`), then the pitch filter, the
  ``lastg`` gain smoothing and the band gains, and the overlap-add synthesis. 480 samples of
  delay.
* 0.2 (:class:`FrameProcessor02`, spec rnnoise-v0.2 section 2): high-pass and analysis
  (:func:`rnnoise_kit.dsp.v02.analyse_v02`, 65 features, 32 bands), the network
  (:class:`rnnoise_kit.model.v02.Network02`, not run on silent frames), then the pitch filter
  and the gains on the *previous* frame's spectrum, the decay cap with the energy-compensated
  ``lastg``, and the same synthesis (:func:`rnnoise_kit.dsp.v02.postfilter_v02`). 960 samples
  of delay.

Results equal the C libraries' frame by frame (0.2: the plain scalar C build).

Two options change what it does, both off by default (output then bit-identical to C):
``max_attenuation_db`` floors the band gains (:func:`rnnoise_kit.dsp.strength.attenuation_floor`)
and ``mix`` blends the denoised output with the input as FFmpeg ``arnndn``'s ``mix`` does
(:func:`rnnoise_kit.dsp.strength.mix_dry_wet`); see ``docs/denoising.md``.

There is one processing path. :meth:`Denoiser.denoise` is a :class:`DenoiseStream` fed the
whole signal at once and flushed, so offline and streaming outputs are identical by
construction (soxr's streaming resampler gives the same samples however the input is cut).

>>> from rnnoise_kit import Denoiser                         # doctest: +SKIP
>>> clean, vad = Denoiser("std.rnnn").denoise(noisy, 16000)   # doctest: +SKIP
>>> clean, vad = Denoiser("r02.bin").denoise(noisy, 16000)    # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr

from rnnoise_kit._frame02 import fusable, process_frames_fused
from rnnoise_kit.audio.io import (
    INT16_SCALE,
    SAMPLE_RATE,
    check_audio_output,
    format_for,
    read_audio,
    round_to_int,
    to_int16,
    write_audio,
)
from rnnoise_kit.dsp import AnalysisState, analyse, apply_band_gains, pitch_filter, synthesize
from rnnoise_kit.dsp.constants import FRAME_SIZE, NB_BANDS
from rnnoise_kit.dsp.strength import (
    MIX_RANGE,
    attenuation_floor,
    floor_gains,
    is_valid_attenuation,
    is_valid_mix,
    mix_dry_wet,
)
from rnnoise_kit.dsp.v02 import AnalysisState02, PostFilterState02, analyse_v02, postfilter_v02
from rnnoise_kit.errors import AudioError, InputError, OutputError, PartialFailure, SettingError
from rnnoise_kit.fileio import check_outputs
from rnnoise_kit.model import Network, RNNoiseModel, RNNState
from rnnoise_kit.model.v02 import Network02, NetworkState02, RNNoise02Model, layers_from_arrays

AnyModel = RNNoiseModel | RNNoise02Model
"""A model of either generation (what :func:`resolve_model` returns)."""

BLOCK_FRAMES = 2048
"""Frames analysed per batch: large enough to amortise the per-call cost, small enough that
the block's spectra (about 8 KB a frame) stay in memory comfortably."""


# --------------------------------------------------------------------------- kernels




# --------------------------------------------------------------------------- state


@dataclass
class ChannelState:
    """Everything ``struct DenoiseState`` carries for one channel (all zero at the start)."""

    analysis: AnalysisState = field(default_factory=AnalysisState)
    rnn: RNNState | None = None
    lastg: np.ndarray = field(default_factory=lambda: np.zeros(NB_BANDS, np.float32))
    synthesis_mem: np.ndarray = field(default_factory=lambda: np.zeros(FRAME_SIZE, np.float32))


@dataclass
class ChannelState02:
    """Everything 0.2's ``struct DenoiseState`` carries for one channel (all zero at the start).

    ``postfilter`` holds the previous frame's spectra and energies (C's ``delayed_*``) and the
    decay-cap memory ``lastg``.
    """

    analysis: AnalysisState02 = field(default_factory=AnalysisState02)
    rnn: NetworkState02 | None = None
    postfilter: PostFilterState02 = field(default_factory=PostFilterState02)
    synthesis_mem: np.ndarray = field(default_factory=lambda: np.zeros(FRAME_SIZE, np.float32))


class FrameProcessor(Protocol):
    """One generation's ``rnnoise_process_frame``, behind what :class:`DenoiseStream` needs.

    Attributes
    ----------
    generation : str
        ``"0.1"`` or ``"0.2"``.
    delay : int
        48 kHz samples between an input sample and the output sample it becomes.
    """

    generation: str
    delay: int

    def new_state(self) -> object:
        """A fresh per-channel state (as after ``rnnoise_create``)."""
        ...

    def process(
        self, x: np.ndarray, state, gain_floor: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rnnoise_process_frame`` on consecutive whole frames of one channel.

        Parameters
        ----------
        x : np.ndarray, float32, shape (480 n,)
            48 kHz samples in int16 scale.
        state
            The channel's state (:meth:`new_state`), updated in place.
        gain_floor : float
            Smallest band gain (:func:`~rnnoise_kit.dsp.strength.attenuation_floor`), applied
            to the network's gains as they come out
            (:func:`~rnnoise_kit.dsp.strength.floor_gains`); 0 leaves the C path unchanged.

        Returns
        -------
        out : np.ndarray, float32, shape (480 n,)
            What the C library outputs for these frames (``delay`` samples late).
        vad : np.ndarray, float32, shape (n,)
            Speech probability per frame (0 on silent frames).
        """
        ...


class FrameProcessor01:
    """RNNoise v0.1 (spec section 9): 480 samples of delay."""

    generation = "0.1"
    delay = FRAME_SIZE

    def __init__(self, model: RNNoiseModel):
        self.net = Network(model)

    def new_state(self) -> ChannelState:
        return ChannelState()

    def process(
        self, x: np.ndarray, state: ChannelState, gain_floor: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`FrameProcessor.process`: analysis, the network over the block, then the
        (floored) gains through the pitch filter, the ``lastg`` smoothing and the band gains,
        and the synthesis."""
        if state.rnn is None:
            state.rnn = self.net.new_state()
        fa = analyse(x, state.analysis)
        net_out = self.net.process(fa.features, fa.silence, state.rnn)
        gains = floor_gains(net_out.gains, gain_floor)
        X = fa.X
        active = ~fa.silence
        if active.all():
            X = pitch_filter(fa.X, fa.P, fa.Ex, fa.Ep, fa.Exp, gains)
        elif active.any():
            X = X.copy()
            X[active] = pitch_filter(
                fa.X[active], fa.P[active], fa.Ex[active], fa.Ep[active], fa.Exp[active],
                gains[active],
            )  # fmt: skip
        X = np.ascontiguousarray(X, dtype=np.complex64)
        apply_band_gains(X, gains, fa.silence, state.lastg)
        out, state.synthesis_mem = synthesize(X, state.synthesis_mem)
        return out, net_out.vad


class FrameProcessor02:
    """RNNoise 0.2 (spec rnnoise-v0.2 section 2): 960 samples of delay (one frame more than
    v0.1: the gains act on the previous frame's spectrum).

    The network's work buffers are per thread, so one processor serves several threads.
    """

    generation = "0.2"
    delay = 2 * FRAME_SIZE
    network_class: type[Network02] = Network02
    """What :attr:`net` builds (a subclass computes other arithmetic, e.g. the tests' emulation
    of an SSE2 C build)."""

    def __init__(self, model: RNNoise02Model):
        self.layers = layers_from_arrays(model)
        self._local = threading.local()

    @property
    def net(self) -> Network02:
        """This thread's network (the layers are shared, the work buffers are not)."""
        net = getattr(self._local, "net", None)
        if net is None:
            net = self._local.net = self.network_class(self.layers)
        return net

    def new_state(self) -> ChannelState02:
        return ChannelState02()

    def process(
        self, x: np.ndarray, state: ChannelState02, gain_floor: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`FrameProcessor.process`: analysis, the network (not run on silent frames),
        then the (floored) gains through the pitch filter and the decay cap, both on the
        previous frame's spectrum (:func:`~rnnoise_kit.dsp.v02.postfilter_v02`), and the
        synthesis. Chunks of up to 3 frames (10 ms streaming) run all of it in one compiled
        call (:func:`rnnoise_kit._frame02.process_frames_fused`, same bits)."""
        net = self.net
        if fusable(net, x, state):
            return process_frames_fused(net, x, state, gain_floor)
        if state.rnn is None:
            state.rnn = net.new_state()
        fa = analyse_v02(x, state.analysis)
        gains, vad = net.process(fa.features, fa.silence, state.rnn)
        spectra = postfilter_v02(fa, floor_gains(gains, gain_floor), state.postfilter)
        out, state.synthesis_mem = synthesize(spectra, state.synthesis_mem)
        return out, vad


def frame_processor(model: AnyModel) -> FrameProcessor01 | FrameProcessor02:
    """The :class:`FrameProcessor` of ``model``'s generation."""
    if isinstance(model, RNNoise02Model):
        return FrameProcessor02(model)
    return FrameProcessor01(model)


# --------------------------------------------------------------------------- model lookup


def resolve_model(model: AnyModel | str | os.PathLike | None) -> AnyModel:
    """A model from a model object, a file path, or a public model name.

    Files: v0.1 ``.rnnn``, ``rnn_data.c``, Keras ``.hdf5``/``.h5``, training checkpoints;
    RNNoise 0.2 weight blobs (``.bin``) and ``rnnoise_data.c``. Names (``std``, ``sh``, ...)
    are looked up in the download cache (``rnnoise-kit model get``); ``rnnoise-0.2`` is
    imported from the installed pyrnnoise on first use. ``None`` (or the name ``bundled``)
    means the bundled default model.
    """
    from rnnoise_kit.model import load_model
    from rnnoise_kit.model.registry import default_model_path, model_path

    if isinstance(model, RNNoiseModel | RNNoise02Model):
        return model
    if model is None:
        return load_model(default_model_path())
    path = model_path(model)
    if not path.exists():
        raise InputError(os.fspath(model), "no such model file (and not a public model name: "
                                           "see `rnnoise-kit model list`)")
    return load_model(path)


MODEL_OPTIONS_SEPARATOR = "@"
"""Separates a model from its options in a model spec (``std@12``, ``std@12,mix=0.5``)."""


def split_model_spec(spec: str) -> tuple[str, dict[str, float]]:
    """Split ``MODEL[@OPTIONS]`` into the model and :class:`Denoiser` keyword arguments.

    ``OPTIONS`` is a comma-separated list of ``DB`` (or ``DBdB``: the attenuation limit,
    ``max_attenuation_db``) and ``mix=M`` (FFmpeg ``arnndn``'s ``mix``). Only the text after
    the *last* ``@`` is read, and only when every item of it parses; otherwise the whole spec
    is the model, so ``my@model.rnnn`` is a file name. An empty option list is allowed:
    ``odd@12@`` is the file ``odd@12`` without options (the way to name a file whose name
    itself ends in ``@`` and a number). Values are checked by :class:`Denoiser`.

    Parameters
    ----------
    spec : str

    Returns
    -------
    model : str
    options : dict
        ``{"max_attenuation_db": float, "mix": float}``, each key only when given.

    Examples
    --------
    >>> split_model_spec("std@12")
    ('std', {'max_attenuation_db': 12.0})
    >>> split_model_spec("run/model.rnnn@6dB,mix=0.5")
    ('run/model.rnnn', {'max_attenuation_db': 6.0, 'mix': 0.5})
    >>> split_model_spec("a@b.rnnn")
    ('a@b.rnnn', {})
    """
    model, sep, tail = spec.rpartition(MODEL_OPTIONS_SEPARATOR)
    if not sep or not model:
        return spec, {}
    options: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in tail.split(","))):
        key, value = "max_attenuation_db", item
        if item.lower().startswith("mix="):
            key, value = "mix", item[4:]
        elif item.lower().endswith("db"):
            value = item[:-2]
        try:
            number = float(value)
        except ValueError:
            return spec, {}
        if key in options:
            return spec, {}
        options[key] = number
    return model, options


def format_model_options(options: dict[str, float]) -> str:
    """The ``OPTIONS`` text of :func:`split_model_spec` for ``options`` ("" when empty)."""
    items = []
    if options.get("max_attenuation_db") is not None:
        items.append(f"{options['max_attenuation_db']:g}")
    if options.get("mix") is not None:
        items.append(f"mix={options['mix']:g}")
    return ",".join(items)


# --------------------------------------------------------------------------- streaming


class DenoiseStream:
    """Chunked denoising with state carried between calls (see :meth:`Denoiser.stream`).

    ``process(chunk)`` takes any number of samples (shape (n,) or (n, channels), int16 or
    float in [-1, 1]) and returns the output that is ready, in the same dtype and number of
    dimensions as the first chunk; ``flush()``
    returns the rest. The concatenated outputs equal :meth:`Denoiser.denoise` on the
    concatenated input. The stream never resets itself: feeding several files through one
    stream carries the state across them, as a long-lived C ``DenoiseState`` does; call
    :meth:`reset` to start afresh. ``max_attenuation_db`` and ``mix``: see :class:`Denoiser`.
    """

    def __init__(
        self,
        processor: FrameProcessor,
        sample_rate: int,
        channels: int = 1,
        compensate_delay: bool = True,
        vad_threshold: float | None = None,
        max_attenuation_db: float | None = None,
        mix: float = 1.0,
    ):
        if int(sample_rate) <= 0:
            raise InputError(None, f"sample rate must be positive, got {sample_rate}")
        if int(channels) < 1:
            raise InputError(None, f"channels must be at least 1, got {channels}")
        _check_strength(max_attenuation_db, mix)
        self.processor = processor
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.compensate_delay = bool(compensate_delay)
        self.vad_threshold = vad_threshold
        self.max_attenuation_db = None if max_attenuation_db is None else float(max_attenuation_db)
        self.mix = float(mix)
        self._gain_floor = attenuation_floor(self.max_attenuation_db)
        self.reset()

    def reset(self) -> None:
        """Start afresh: zero DSP and network states, empty buffers."""
        delay = self.processor.delay
        self._states = [self.processor.new_state() for _ in range(self.channels)]
        self._pending = np.zeros((0, self.channels), np.float32)  # 48 kHz, int16 scale
        # the last ``delay`` input samples: the dry signal of ``mix``, delayed like the
        # denoised output (FFmpeg's ``history``: one frame for v0.1; two for 0.2)
        self._dry_history = np.zeros((delay, self.channels), np.float32)
        self._skip = delay if self.compensate_delay else 0  # 48 kHz samples to drop
        self._in_48k = 0  # 48 kHz samples received (the output length to reach)
        self._out_48k = 0  # 48 kHz timeline samples produced (kept or dropped)
        self._vad: list[np.ndarray] = []
        self._dtype: np.dtype | None = None
        self._flat: bool | None = None  # 1-D chunks in, 1-D chunks out
        self._flushed = False
        if self.sample_rate != SAMPLE_RATE:
            self._rs_in = soxr.ResampleStream(
                self.sample_rate, SAMPLE_RATE, self.channels, dtype="float64", quality="HQ"
            )
            self._rs_out = soxr.ResampleStream(
                SAMPLE_RATE, self.sample_rate, self.channels, dtype="float64", quality="HQ"
            )

    @property
    def vad(self) -> np.ndarray:
        """Speech probability of every frame processed so far, shape (frames, channels)."""
        if not self._vad:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate(self._vad)

    def _to_float(self, chunk: np.ndarray) -> np.ndarray:
        a = np.asarray(chunk)
        if self._flat is None:
            self._flat = a.ndim == 1
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != self.channels:
            raise InputError(
                None, f"chunk must have shape (n,) or (n, {self.channels}), got {a.shape}"
            )
        if self._dtype is None:
            self._dtype = a.dtype
        if a.dtype.kind in "iu":
            x = a.astype(np.float64)
            if a.dtype != np.int16:
                x = x / (np.iinfo(a.dtype).max + 1.0) * INT16_SCALE
        elif a.dtype.kind == "f":
            if not np.isfinite(a).all():
                raise AudioError(None, "audio contains NaN or infinite samples")
            x = a.astype(np.float64) * INT16_SCALE
        else:
            raise InputError(None, f"unsupported audio dtype {a.dtype}")
        return x

    def _from_float(self, y: np.ndarray) -> np.ndarray:
        """48 kHz-domain int16-scale float back to the caller's dtype."""
        dtype = self._dtype if self._dtype is not None else np.dtype(np.float32)
        if dtype == np.int16:
            return round_to_int(y)
        if dtype.kind in "iu":
            return round_to_int(y * ((np.iinfo(dtype).max + 1.0) / INT16_SCALE), dtype)
        return (y * (1.0 / INT16_SCALE)).astype(dtype)

    def _run(self, x48: np.ndarray, final: bool) -> np.ndarray:
        """Frame, process and delay-align 48 kHz samples; returns 48 kHz output."""
        self._in_48k += x48.shape[0]
        if not self._pending.shape[0]:
            buf = x48.astype(np.float32, copy=False)
        elif x48.shape[0]:
            buf = np.concatenate([self._pending, x48.astype(np.float32, copy=False)])
        else:
            buf = self._pending
        if final:
            # enough zeros to push every real sample (plus the delay) out of the frames
            need = self._in_48k + self._skip - (self._out_48k + buf.shape[0])
            need = max(0, need)
            total = buf.shape[0] + need
            total += (-total) % FRAME_SIZE
            buf = np.concatenate([buf, np.zeros((total - buf.shape[0], self.channels),
                                                np.float32)])
        n_frames = buf.shape[0] // FRAME_SIZE
        used = n_frames * FRAME_SIZE
        self._pending = buf[used:]
        if n_frames == 0:
            return np.zeros((0, self.channels), np.float64)
        outs = np.empty((used, self.channels), np.float32)
        vads = np.empty((n_frames, self.channels), np.float32)
        for start in range(0, n_frames, BLOCK_FRAMES):
            stop = min(n_frames, start + BLOCK_FRAMES)
            seg = slice(start * FRAME_SIZE, stop * FRAME_SIZE)
            for c, st in enumerate(self._states):
                outs[seg, c], vads[start:stop, c] = self.processor.process(
                    np.ascontiguousarray(buf[seg, c]), st, self._gain_floor
                )
        if self.mix != 1.0:
            delayed = np.concatenate([self._dry_history, buf[:used]])
            outs = mix_dry_wet(outs, delayed[:used], self.mix)
            self._dry_history = delayed[used:]
        self._vad.append(vads)
        return self._align(outs, vads)

    def _align(self, out: np.ndarray, vads: np.ndarray) -> np.ndarray:
        """Drop the delay, frames below the VAD threshold, and samples past the input."""
        n = out.shape[0]
        start = self._out_48k  # position of out[0] in the undelayed output timeline
        self._out_48k += n
        # keep timeline positions in [skip, skip + samples received)
        lo = min(n, max(0, self._skip - start))
        hi = max(lo, min(n, self._skip + self._in_48k - start))
        if self.vad_threshold is None:
            return out[lo:hi]
        quiet = np.repeat((vads < self.vad_threshold).all(axis=1), FRAME_SIZE)
        return out[lo:hi][~quiet[lo:hi]]

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Denoise a chunk; returns the output ready so far (possibly empty)."""
        if self._flushed:
            raise InputError(None, "stream already flushed; call reset() to reuse it")
        x = self._to_float(chunk)
        if self.sample_rate != SAMPLE_RATE:
            x = self._rs_in.resample_chunk(x)
        y = self._run(x, final=False)
        return self._finish(y, last=False)

    def flush(self) -> np.ndarray:
        """Process what is buffered (zero-padded to whole frames) and return the rest."""
        x = np.zeros((0, self.channels), np.float64)
        if self.sample_rate != SAMPLE_RATE:
            x = self._rs_in.resample_chunk(x, last=True)
        y = self._run(x, final=True)
        out = self._finish(y, last=True)
        self._flushed = True
        return out

    def _finish(self, y48: np.ndarray, last: bool) -> np.ndarray:
        if self.sample_rate != SAMPLE_RATE:
            y48 = self._rs_out.resample_chunk(np.ascontiguousarray(y48, np.float64), last=last)
        y = self._from_float(y48)
        return y[:, 0] if self._flat else y


# --------------------------------------------------------------------------- Denoiser


class Denoiser:
    """Denoise audio with an RNNoise v0.1 or 0.2 model, exactly as the C library does.

    Parameters
    ----------
    model : RNNoiseModel, RNNoise02Model, path or str, optional
        A model object, a model file (v0.1: ``.rnnn``, ``rnn_data.c``, Keras ``.hdf5``,
        training checkpoint; 0.2: weight blob ``.bin``, ``rnnoise_data.c``) or a public model
        name (``std``, ``sh``, ... once fetched with ``rnnoise-kit model get``;
        ``rnnoise-0.2`` with pyrnnoise installed). Default: the bundled model. The model's
        generation decides which ``rnnoise_process_frame`` runs (librnnoise v0.1.1 or 0.2).
    compensate_delay : bool
        Remove the algorithm's delay (v0.1: 480 samples, 10 ms at 48 kHz; 0.2: 960 samples)
        so the output lines up with the input. ``False`` gives what the C library produces
        frame after frame, first frame included.
    vad_threshold : float, optional
        Drop output frames whose speech probability is below this (every channel below it,
        for multi-channel audio). The one case where the output is shorter than the input.
    max_attenuation_db : float, optional
        Attenuation limit: no band is attenuated by more than this many dB (every band gain
        is at least ``10 ** (-max_attenuation_db / 20)``). Applied to the network's band
        gains as they come out, so the pitch filter, the ``lastg`` smoothing (0.2: the decay
        cap) and the interpolation all see the floored gains; 0 dB passes the input through
        (high-pass filtered, nothing above 20 kHz). ``None`` (default): no limit, output
        bit-identical to the C library.
    mix : float
        FFmpeg ``arnndn``'s ``mix``, in [-1, 1]: ``denoised * mix + input * (1 - max(mix, 0))``,
        sample by sample at 48 kHz, the input delayed like the denoised output (by 480
        samples for v0.1, 960 for 0.2). 1 (default):
        denoised only; 0: the input only; -1: what the denoiser removed.

    Notes
    -----
    Calls are independent: each starts from a fresh state and leaves the Denoiser
    unchanged, so one Denoiser may serve several threads.
    """

    def __init__(
        self,
        model: AnyModel | str | os.PathLike | None = None,
        compensate_delay: bool = True,
        vad_threshold: float | None = None,
        max_attenuation_db: float | None = None,
        mix: float = 1.0,
    ):
        if vad_threshold is not None and not 0.0 <= float(vad_threshold) <= 1.0:
            raise SettingError("vad_threshold", f"must be within [0, 1], got {vad_threshold}")
        _check_strength(max_attenuation_db, mix)
        self.model = resolve_model(model)
        self.processor = frame_processor(self.model)
        self.compensate_delay = compensate_delay
        self.vad_threshold = None if vad_threshold is None else float(vad_threshold)
        self.max_attenuation_db = None if max_attenuation_db is None else float(max_attenuation_db)
        self.mix = float(mix)

    def __reduce__(self):
        """Pickle as the model and the options (the frame processor is rebuilt on loading):
        what a worker process receives from :func:`denoise_files`."""
        return (type(self), (self.model, self.compensate_delay, self.vad_threshold,
                             self.max_attenuation_db, self.mix))

    def stream(self, sample_rate: int, channels: int = 1) -> DenoiseStream:
        """A :class:`DenoiseStream` for chunks at ``sample_rate`` with ``channels`` channels."""
        return DenoiseStream(
            self.processor, sample_rate, channels, self.compensate_delay, self.vad_threshold,
            self.max_attenuation_db, self.mix,
        )  # fmt: skip

    def denoise(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Denoise a whole signal.

        Parameters
        ----------
        audio : np.ndarray, shape (n,) or (n, channels)
            int16, or float in [-1, 1] (scaled by 32768, as the C tools see int16). Each
            channel is denoised with its own state.
        sample_rate : int
            Any rate; other than 48 kHz is resampled with soxr to 48 kHz and back.

        Returns
        -------
        denoised : np.ndarray
            Same shape, dtype and rate as ``audio`` (shorter only with ``vad_threshold``).
        vad : np.ndarray, float32
            Speech probability per 10 ms frame: shape (frames,) for 1-D input,
            (frames, channels) otherwise.
        """
        a = np.asarray(audio)
        if a.ndim not in (1, 2) or a.shape[0] == 0 or (a.ndim == 2 and a.shape[1] == 0):
            raise AudioError(None, f"audio must be a non-empty (n,) or (n, channels) array, "
                                   f"got shape {a.shape}")
        stream = self.stream(sample_rate, 1 if a.ndim == 1 else a.shape[1])
        out = np.concatenate([stream.process(a), stream.flush()])
        vad = stream.vad
        return out, (vad[:, 0] if a.ndim == 1 else vad)

    def denoise_file(self, src: str | os.PathLike, dst: str | os.PathLike) -> np.ndarray:
        """Denoise an audio file into ``dst``, keeping rate, channels and subtype.

        Anything soundfile reads (wav, flac, ogg, mp3, ...). ``dst`` is written atomically;
        its format follows its suffix. Returns the per-frame VAD, shape (frames, channels).

        Raises
        ------
        AudioError
            ``src`` is missing, unreadable, empty or holds NaN/inf samples.
        OutputError
            ``dst`` is ``src`` (or a link to it), has no audio suffix, or cannot be written.
        """
        check_outputs([dst], [src])
        check_audio_output(dst)
        audio, rate, subtype = read_audio(src)
        if subtype == "PCM_16":
            # exact: read_audio gave int16/32768, so the int16 path keeps every sample as is
            audio = to_int16(audio)
        try:
            out, vad = self.denoise(audio, rate)
        except AudioError as exc:
            raise AudioError(src, exc.problem) from exc
        write_audio(dst, out, rate, subtype=_writable_subtype(dst, subtype))
        return vad


def _check_strength(max_attenuation_db: float | None, mix: float) -> None:
    if not is_valid_attenuation(max_attenuation_db):
        raise SettingError("max_attenuation_db", "must be a finite number of dB >= 0, "
                                                 f"got {max_attenuation_db!r}")
    if not is_valid_mix(mix):
        raise SettingError("mix", f"must be within [{MIX_RANGE[0]:g}, {MIX_RANGE[1]:g}], "
                                  f"got {mix!r}")


def _writable_subtype(dst: str | os.PathLike, subtype: str) -> str | None:
    """The input's subtype when the output format supports it, else the format's default."""
    import soundfile as sf

    try:
        ok = sf.check_format(format_for(dst), subtype)
    except (ValueError, TypeError):
        ok = False
    return subtype if ok else None


# --------------------------------------------------------------------------- many files


def plan_outputs(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
) -> list[tuple[str, str]]:
    """Where each input's denoised file goes: one ``output`` file, or ``out_dir/<input name>``.

    Parameters
    ----------
    inputs : list of path-like
        Audio files.
    output : path-like, optional
        The output file, for a single input.
    out_dir : path-like, optional
        A folder receiving each output under its input's file name (not created here).

    Returns
    -------
    list of (str, str)
        ``(input, output)`` pairs, in the order of ``inputs``.

    Raises
    ------
    SettingError
        Not exactly one of ``output`` and ``out_dir``, an ``output`` for several inputs, no
        input, or inputs sharing a file name under ``out_dir``.
    OutputError
        An output would replace an input or another output.
    """
    if (output is None) == (out_dir is None):
        raise SettingError("output", "or out_dir: give exactly one of them")
    if not inputs:
        raise SettingError("inputs", "is empty: nothing to denoise")
    srcs = [os.fspath(i) for i in inputs]
    if output is not None:
        if len(srcs) != 1:
            raise SettingError("output", f"is one file: it takes one input, an output folder "
                                         f"takes several (got {len(srcs)} inputs)")
        pairs = [(srcs[0], os.fspath(output))]
    else:
        names = [Path(i).name for i in srcs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SettingError("out_dir", f"needs distinct input names: several inputs are "
                                          f"named {dupes[0]!r}")
        pairs = [(i, os.fspath(Path(out_dir) / n)) for i, n in zip(srcs, names, strict=True)]
    check_outputs([d for _, d in pairs], [s for s, _ in pairs])
    return pairs


@dataclass
class DenoiseFilesResult:
    """What :func:`denoise_files` did.

    Attributes
    ----------
    outputs : dict of str to str
        Each input that was denoised mapped to the file written, in input order.
    failures : dict of str to str
        Each input that failed mapped to its one-line reason.
    """

    outputs: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


def _denoise_one(denoiser: Denoiser, src: str, dst: str) -> str | None:
    """Denoise one file; returns None or the one-line reason it failed."""
    try:
        denoiser.denoise_file(src, dst)
    except (InputError, OutputError) as exc:
        return exc.problem if exc.path in (None, src) else str(exc)
    return None


def _denoise_batch(denoiser: Denoiser, pairs: list[tuple[str, str]]) -> list[str | None]:
    """Denoise files in a worker process with the Denoiser it received (rebuilt from the model
    and options there, see :meth:`Denoiser.__reduce__`); one reason or None per file."""
    return [_denoise_one(denoiser, src, dst) for src, dst in pairs]


BATCHES_PER_WORKER = 4
"""How many batches :func:`denoise_files` cuts the files into per worker process: each batch
carries the model once (an RNNoise 0.2 model is about 30 MB pickled and 50 ms to set up), while
several batches per worker keep the workers evenly busy and the progress moving."""


def denoise_files(
    pairs: list[tuple[str | os.PathLike, str | os.PathLike]],
    denoiser: Denoiser,
    jobs: int = 1,
    on_done=None,
) -> DenoiseFilesResult:
    """Denoise (source, destination) pairs, in parallel processes when ``jobs > 1``.

    A file that fails is reported and skipped; the others are still processed. Pairs usually
    come from :func:`plan_outputs`.

    Parameters
    ----------
    pairs : list of (src, dst)
    denoiser : Denoiser
        Its model and options are used in every worker.
    jobs : int
    on_done : callable(src, error_or_None), optional
        Called as each file finishes (progress reporting).

    Returns
    -------
    DenoiseFilesResult
        When every file was denoised.

    Raises
    ------
    InputError
        The only input failed (its reason, naming it); ``jobs`` is below 1 (nothing done).
    PartialFailure
        Some inputs failed (``done`` > 0: the others were written), or several did and none
        was written (``done`` == 0); its ``result`` is the :class:`DenoiseFilesResult`.
    """
    if jobs < 1:
        raise SettingError("jobs", f"must be at least 1 (got {jobs})")
    result = DenoiseFilesResult()
    items = [(os.fspath(s), os.fspath(d)) for s, d in pairs]

    def done(src: str, dst: str, err: str | None) -> None:
        if err is None:
            result.outputs[src] = dst
        else:
            result.failures[src] = err
        if on_done is not None:
            on_done(src, err)

    if jobs <= 1 or len(items) <= 1:
        for src, dst in items:
            done(src, dst, _denoise_one(denoiser, src, dst))
    else:
        from concurrent.futures import ProcessPoolExecutor

        workers = min(jobs, len(items))
        size = -(-len(items) // (workers * BATCHES_PER_WORKER))
        batches = [items[i: i + size] for i in range(0, len(items), size)]
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_denoise_batch, denoiser, batch) for batch in batches]
            try:
                for fut, batch in zip(futures, batches, strict=True):
                    for (src, dst), err in zip(batch, fut.result(), strict=True):
                        done(src, dst, err)
            except BaseException:  # Ctrl-C, SIGTERM: start no further batch
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    result.outputs = {s: result.outputs[s] for s, _ in items if s in result.outputs}
    if result.failures and len(items) == 1:
        src, reason = next(iter(result.failures.items()))
        raise InputError(src, reason)
    if result.failures:
        raise PartialFailure(result.failures, len(result.outputs), result)
    return result
