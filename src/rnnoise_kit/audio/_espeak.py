"""A tiny ctypes binding to the libespeak-ng that the ``espeakng-loader`` package bundles.

Only what the demo-data generator needs: initialise the library in synchronous mode against
the bundled ``espeak-ng-data``, choose a voice (``"de+m3"``), set rate, pitch and pitch
range, and synthesise UTF-8 text into 16-bit samples collected through the synth callback.
No system ``espeak-ng`` binary or data is used.

Determinism
-----------
libespeak-ng keeps synthesis state in static variables (flutter phase, resonator memories,
echo buffer) that carry over from one utterance to the next, so the same call gives slightly
different samples depending on what was spoken before. To make every call reproducible, each
utterance loads a *private copy* of the library (``dlopen``), initialises it, synthesises and
unloads it again (``dlclose``), which resets all static state; this costs about 10-20 ms per
utterance. The private copy (an anonymous ``memfd`` file on Linux) also keeps us from
disturbing, or being disturbed by, any other user of the bundled library in the same
process. Where unloading is not possible the library stays loaded and output is reproducible
only for the same sequence of calls.

libespeak-ng is not thread-safe; every call goes through one process-wide lock.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from rnnoise_kit.errors import RnnoiseKitError

AUDIO_OUTPUT_SYNCHRONOUS = 2
"""``espeak_AUDIO_OUTPUT``: synthesise in the calling thread, samples through the callback."""

ESPEAK_CHARS_UTF8 = 1
ESPEAK_POS_CHARACTER = 1

ESPEAK_RATE = 1
ESPEAK_VOLUME = 2
ESPEAK_PITCH = 3
ESPEAK_RANGE = 4
ESPEAK_PUNCTUATION = 5
ESPEAK_WORDGAP = 7

EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RnnoiseKitError):
    """libespeak-ng could not be loaded, initialised or refused a request."""


def _loader():
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - core dependency
        raise EspeakError(
            "the demo data needs the 'espeakng-loader' package (pip install espeakng-loader)"
        ) from exc
    return espeakng_loader


@lru_cache(maxsize=1)
def data_path() -> Path:
    """The bundled ``espeak-ng-data`` folder."""
    try:
        return Path(_loader().get_data_path())
    except RuntimeError as exc:
        raise EspeakError(str(exc)) from exc


_private_path: str | None = None


def _library_path() -> str:
    """A private copy of the bundled library (falls back to the bundled file itself).

    On Linux the copy lives in an anonymous memory file (``memfd_create``), which vanishes
    with the process; elsewhere, or where that fails, in a temporary folder removed at exit.
    """
    global _private_path
    original = _loader().get_library_path()
    if not Path(original).is_file():
        raise EspeakError(f"espeakng-loader's library is missing: {original}")
    if _private_path is None:
        _private_path = _memfd_copy(original) or _temp_copy(original) or ""
    return _private_path or original


def _memfd_copy(original: str) -> str | None:
    if not hasattr(os, "memfd_create") or not Path("/proc/self/fd").is_dir():
        return None
    try:
        fd = os.memfd_create("rnnoise-kit-libespeak-ng", 0)  # no CLOEXEC: dlopen needs it
        with open(original, "rb") as src:
            os.write(fd, src.read())
        path = f"/proc/self/fd/{fd}"
        ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)  # probe; unloaded again below
    except OSError:
        return None
    _dlclose_path(path)
    return path


def _temp_copy(original: str) -> str | None:
    try:
        folder = tempfile.mkdtemp(prefix="rnnoise-kit-espeak-")
        atexit.register(shutil.rmtree, folder, True)
        target = Path(folder) / Path(original).name
        shutil.copy2(original, target)
    except OSError:
        return None
    return str(target)


def _dlclose_path(path: str) -> None:
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)  # take the handle, then drop both refs
    _dlclose(lib._handle)
    _dlclose(lib._handle)


def _dlclose(handle: int) -> bool:
    try:
        import _ctypes

        _ctypes.dlclose(handle)
    except (ImportError, AttributeError, OSError):  # pragma: no cover - non-POSIX
        return False
    return True


_kept: ctypes.CDLL | None = None  # only where dlclose is unavailable


def _open() -> ctypes.CDLL:
    if _kept is not None:  # pragma: no cover - non-POSIX
        return _kept
    path = _library_path()
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
    except OSError as exc:
        original = _loader().get_library_path()
        if path == original:
            raise EspeakError(f"cannot load libespeak-ng from {path}: {exc}") from exc
        global _private_path
        _private_path = ""  # e.g. a noexec temp folder: use the bundled file
        try:
            lib = ctypes.CDLL(original, mode=ctypes.RTLD_LOCAL)
        except OSError as exc2:
            raise EspeakError(f"cannot load libespeak-ng from {original}: {exc2}") from exc2
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int  # espeak_ng_STATUS
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path()).encode(), 0)
    if rate <= 0:
        raise EspeakError(f"espeak_Initialize failed (data path {data_path()})")
    lib._rnnoise_kit_rate = int(rate)
    return lib


def _close(lib: ctypes.CDLL) -> None:
    global _kept
    lib.espeak_Terminate()
    if not _dlclose(lib._handle):  # pragma: no cover - non-POSIX
        _kept = lib


_lock = threading.Lock()
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while espeak runs (a sentence takes milliseconds), then hand
    them to their handlers. A handler that ran inside the synthesis callback would raise
    where ctypes drops the exception, and the command would go on as if never stopped."""
    if (threading.current_thread() is not threading.main_thread()
            or any(signal.getsignal(s) is None for s in _HELD_SIGNALS)):
        yield  # only the main thread sets handlers; one set outside Python cannot be restored
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum))
                for s in _HELD_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(caught):
            signal.raise_signal(s)


def synthesize(text: str, voice: str, *, rate: int = 175, pitch: int = 50,
               pitch_range: int = 50, seed: int = 0) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with an espeak-ng voice, reproducibly.

    Parameters
    ----------
    text : str
        UTF-8 text in the voice's language.
    voice : str
        espeak-ng voice name, optionally with a variant: ``"en"``, ``"de+m3"``, ``"fr+f2"``.
    rate : int
        Speaking rate in words per minute (espeak accepts 80-450).
    pitch, pitch_range : int
        Base pitch and pitch range, 0-100 (50 is the voice's default).
    seed : int
        Seed of the library's random generator (klatt-type noise sources).

    Returns
    -------
    samples : np.ndarray, int16, shape (n,)
    sample_rate : int
        The library's native rate (22050 Hz for the bundled data).

    Raises
    ------
    EspeakError
        The library cannot be loaded or does not know the voice.
    """
    chunks: list[np.ndarray] = []
    raised: list[BaseException] = []

    def collect(wav, numsamples, _events) -> int:
        # ctypes drops an exception raised in a callback: keep it, stop the synthesis, and
        # raise it once espeak returns
        try:
            if numsamples > 0 and wav:
                chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
            return 0  # 0: continue synthesis
        except BaseException as exc:
            raised.append(exc)
            return 1  # 1: abort synthesis

    callback = _CALLBACK(collect)
    with _lock:
        lib = _open()
        try:
            lib.espeak_SetSynthCallback(callback)
            if hasattr(lib, "espeak_ng_SetRandSeed"):
                lib.espeak_ng_SetRandSeed(int(seed) & 0x7FFFFFFF)
            if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            for param, value in ((ESPEAK_RATE, rate), (ESPEAK_PITCH, pitch),
                                 (ESPEAK_RANGE, pitch_range), (ESPEAK_VOLUME, 100),
                                 (ESPEAK_PUNCTUATION, 0), (ESPEAK_WORDGAP, 0)):
                lib.espeak_SetParameter(param, int(value), 0)
            data = text.encode("utf-8") + b"\0"
            with _signals_held():
                err = lib.espeak_Synth(data, len(data), 0, ESPEAK_POS_CHARACTER, 0,
                                       ESPEAK_CHARS_UTF8, None, None)
                if err == EE_OK:
                    lib.espeak_Synchronize()
            if raised:
                raise raised[0]
            if err != EE_OK:
                raise EspeakError(f"espeak_Synth failed with code {err} (voice {voice!r})")
            sample_rate = lib._rnnoise_kit_rate
        finally:
            _close(lib)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples.astype(np.int16, copy=False), sample_rate


@lru_cache(maxsize=1)
def available_languages() -> frozenset[str]:
    """Language voice names in the bundled data (``"en"``, ``"de"``, ``"pt-BR"``, ...)."""
    root = data_path() / "lang"
    return frozenset(p.name for p in root.rglob("*") if p.is_file())


@lru_cache(maxsize=1)
def available_variants() -> tuple[str, ...]:
    """Voice variants in the bundled data (``voices/!v``), sorted: ``"f1"``, ``"m3"``, ..."""
    root = data_path() / "voices" / "!v"
    return tuple(sorted(p.name for p in root.iterdir() if p.is_file())) if root.is_dir() else ()
