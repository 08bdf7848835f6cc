"""Room impulse responses for training-data augmentation: reading the user's, generating rooms,
and the early part that serves as the dereverberation target.

A response is a float array at 48 kHz whose direct path comes first. Two sources:

* :func:`load_rirs` reads a folder of audio files (any format rnnoise-kit reads, resampled to
  48 kHz) or a text list of headerless native float32 files, one path a line, relative to the
  list's folder; that is the list RNNoise 0.2's ``dump_features -rir_list`` reads (spec
  ``rnnoise-v0.2.md`` section 11), except that C opens names relative to its working folder.
* :func:`room_impulse_response` simulates a random shoebox room (pyroomacoustics);
  :func:`seeded_room` is room ``spawn_key`` of a seed, ready to use.

:func:`prepare_response` aligns and scales a response the way the training generator and
``rnnoise-kit mix --reverb`` use it.

Like C, only the first :data:`MAX_RIR_SAMPLES` samples of a response are used.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.io import INT16_SCALE, SAMPLE_RATE, read_mono_48k, rms
from rnnoise_kit.audio.scan import SkippedFile, is_audio_name, walk_source
from rnnoise_kit.errors import InputError

MAX_RIR_SAMPLES = 32768
"""Samples of a response used at most (C reads ``RIR_FFT_SIZE/2`` floats of each file)."""
EARLY_FLAT = 480
"""Samples of the early response kept unchanged (10 ms: the direct path and first reflections)."""
EARLY_FADE = 240
"""Samples over which the early response fades linearly to zero after :data:`EARLY_FLAT` (5 ms)."""

RIR_LEAD = 48
"""Samples kept before a response's largest sample (1 ms), where its direct path is."""

_MAX_ISM_ORDER = 17


def early_response(rir: np.ndarray) -> np.ndarray:
    """The early part of a response, the reverberant speech target of RNNoise 0.2's generator.

    Samples ``0..479`` are kept, ``480..719`` are multiplied by ``1 - i/240`` and the rest is
    zero: speech convolved with it keeps the direct sound and the reflections of the first
    ~10 ms, which the ear fuses with the direct sound (they colour it but do not smear it),
    while late reverberation is left for the model to remove.

    Parameters
    ----------
    rir : np.ndarray, shape (n,)

    Returns
    -------
    np.ndarray, shape (n,), same dtype as ``rir``
    """
    out = np.zeros_like(rir)
    flat = min(EARLY_FLAT, rir.size)
    out[:flat] = rir[:flat]
    fade = np.arange(max(0, min(EARLY_FADE, rir.size - EARLY_FLAT)))
    # 1 - i/240 in float, as C computes it
    ramp = np.float32(1) - fade.astype(np.float32) / np.float32(EARLY_FADE)
    out[EARLY_FLAT:EARLY_FLAT + fade.size] = (rir[EARLY_FLAT:EARLY_FLAT + fade.size] * ramp
                                              ).astype(rir.dtype)
    return out


def prepare_response(rir: np.ndarray) -> np.ndarray:
    """A response as it is used: float32, starting :data:`RIR_LEAD` samples before its largest
    sample (its direct path, so that the early window holds it), at most
    :data:`MAX_RIR_SAMPLES` long, scaled so that its early part has unit energy (speech
    convolved with the early part keeps the dry speech's level whatever the response's scale).

    Parameters
    ----------
    rir : np.ndarray, shape (n,)

    Returns
    -------
    np.ndarray, float32, shape (<= MAX_RIR_SAMPLES,)
    """
    rir = np.asarray(rir, dtype=np.float64)
    start = max(int(np.argmax(np.abs(rir))) - RIR_LEAD, 0)
    rir = rir[start:start + MAX_RIR_SAMPLES]
    energy = float(np.sum(early_response(rir) ** 2))
    return (rir / math.sqrt(energy if energy > 0 else 1.0)).astype(np.float32)


def _check_response(path: Path, rir: np.ndarray) -> np.ndarray:
    if rir.size == 0:
        raise InputError(path, "impulse response is empty")
    if not np.all(np.isfinite(rir)):
        raise InputError(path, "impulse response holds NaN or infinite samples")
    return np.ascontiguousarray(rir[:MAX_RIR_SAMPLES], dtype=np.float32)


def read_raw_rir(path: str | os.PathLike) -> np.ndarray:
    """One headerless native float32 response (at most :data:`MAX_RIR_SAMPLES` samples)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.float32, count=MAX_RIR_SAMPLES)
    except OSError as exc:
        raise InputError(path, f"cannot read impulse response ({exc.strerror or exc})") from None
    return _check_response(path, data)


def read_rir_list(path: str | os.PathLike) -> tuple[list[np.ndarray], list[Path]]:
    """The responses named by a text list (one raw float32 file a line, relative to the list).

    Returns
    -------
    rirs : list of np.ndarray, float32
    paths : list of Path, the file of each response
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read impulse-response list ({exc})") from None
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise InputError(path, "impulse-response list names no file")
    paths = [(path.parent / name) for name in names]
    return [read_raw_rir(p) for p in paths], paths


def load_rirs(src: str | os.PathLike) -> tuple[list[np.ndarray], list[Path], list[SkippedFile]]:
    """Read impulse responses from a folder of audio files or from a text list of raw float32 files.

    A folder is scanned like every audio source (:func:`rnnoise_kit.audio.scan.walk_source`);
    each file is mixed down to mono and resampled to 48 kHz, and scaled back to [-1, 1] (the
    readers give int16 scale). A file whose suffix is not audio is taken as a list.

    Parameters
    ----------
    src : path-like
        A folder, an audio file, or a list file.

    Returns
    -------
    rirs : list of np.ndarray, float32, each shape (<= MAX_RIR_SAMPLES,)
    paths : list of Path, the file of each response
    skipped : list of SkippedFile, the folders and links a folder scan left out
    """
    src = Path(src)
    if not src.exists():
        raise InputError(src, "no such file or folder")
    if src.is_file():
        if not is_audio_name(src):
            rirs, paths = read_rir_list(src)
            return rirs, paths, []
    files, skipped = walk_source(src)
    if not files:
        raise InputError(src, "holds no audio file to use as an impulse response")
    rirs = [_check_response(f, read_mono_48k(f) / np.float32(INT16_SCALE)) for f in files]
    return rirs, files, skipped


def room_impulse_response(rng: np.random.Generator, *, rt60: float | None = None
                          ) -> tuple[np.ndarray, dict]:
    """A random shoebox-room impulse response at 48 kHz (pyroomacoustics image method).

    The room is 3-10 x 3-8 x 2.4-4 m with source and microphone at least 0.5 m from the walls
    and 0.7 m apart, and wall absorption from Sabine's formula for the target RT60. The
    image-source model is run to order 17 (cost grows with the cube of the order); from the
    time that order stops covering every direction, the response continues as exponentially
    decaying noise at the target RT60, level-matched to the image-source part (a hybrid
    early/late model).

    Parameters
    ----------
    rng : numpy.random.Generator
    rt60 : float, optional
        Reverberation time in seconds; default uniform in [0.2, 0.8].

    Returns
    -------
    rir : np.ndarray, float64
        Starts 1 ms before the direct path; normalised so the direct path peaks at 1.
    info : dict
        ``rt60`` (s), ``room`` (m), ``distance`` (m).
    """
    import pyroomacoustics as pra

    if rt60 is None:
        rt60 = float(rng.uniform(0.2, 0.8))
    dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    absorption, order = pra.inverse_sabine(rt60, dims)
    order = int(min(order, _MAX_ISM_ORDER))
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(float(absorption)),
                       max_order=order, air_absorption=False)
    src = rng.uniform(0.5, dims - 0.5)
    for _ in range(100):  # a talker at least 0.7 m from the microphone
        mic = rng.uniform(0.5, dims - 0.5)
        if np.linalg.norm(src - mic) >= 0.7:
            break
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    c = 343.0
    # time up to which the images of order <= `order` cover every direction: the octahedron
    # |i| + |j| + |k| <= order of image cells holds a sphere of radius order / sqrt(3) cells
    t_cover = order * float(dims.min()) / (math.sqrt(3.0) * c)
    start = int(max(np.argmax(np.abs(rir)) - 0.001 * SAMPLE_RATE, 0))
    cross = start + int(t_cover * SAMPLE_RATE)
    length = cross + int(rt60 * SAMPLE_RATE)
    if cross < rir.size:
        win = int(0.02 * SAMPLE_RATE)
        level = rms(rir[max(cross - win, start): cross]) or 1e-6
        k = np.arange(length - cross)
        tail = rng.standard_normal(k.size) * level * 10 ** (-3.0 * k / (rt60 * SAMPLE_RATE))
        fade = min(int(0.005 * SAMPLE_RATE), k.size)
        out = np.zeros(length)
        head = rir[:cross]
        out[: head.size] = head
        ramp = np.linspace(0.0, 1.0, fade)
        seg = rir[cross: cross + fade]
        mixed = tail[:fade].copy() * ramp
        mixed[: seg.size] += seg * (1 - ramp[: seg.size])
        out[cross: cross + fade] = mixed
        out[cross + fade:] = tail[fade:]
        rir = out
    rir = rir[start:]
    rir /= np.max(np.abs(rir)) or 1.0
    info = {"rt60": round(rt60, 3), "room": [round(float(d), 2) for d in dims],
            "distance": round(float(np.linalg.norm(src - mic)), 2)}
    return rir, info



def seeded_room(seed: int, spawn_key: tuple[int, ...]) -> tuple[np.ndarray, dict]:
    """A generated room that depends on ``seed`` and ``spawn_key`` only, prepared for use.

    The room is :func:`room_impulse_response` drawn from
    ``SeedSequence(seed, spawn_key=spawn_key)``; each user of rooms has its own first key, so
    that, for one seed, the training generator's rooms and a test set's are different rooms.

    Returns
    -------
    rir : np.ndarray, float32
        :func:`prepare_response` of the room's response.
    info : dict
        The room's ``rt60`` (s, the reverberation time it was designed for), ``room`` (m) and
        ``distance`` (m, source to microphone).
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in spawn_key))
    rir, info = room_impulse_response(np.random.Generator(np.random.PCG64(ss)))
    return prepare_response(rir), info
