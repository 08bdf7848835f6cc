"""Formats the dataset commands rely on: mp3 and odd rates through ``read_mono_48k``."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.io import audio_info, read_audio, read_mono_48k
from rnnoise_kit.audio.prepare import prepare
from rnnoise_kit.audio.scan import scan_audio
from rnnoise_kit.errors import AudioError


def test_mp3_is_scanned_and_prepared(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("libsndfile without MP3")
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    sf.write(str(tmp_path / "a.mp3"), x, 22050, format="MP3")
    files, skipped = scan_audio([tmp_path])
    assert [f.name for f in files] == ["a.mp3"] and not skipped
    r = prepare([tmp_path], tmp_path / "o.raw")
    assert abs(r.duration - 1.0) < 0.1 and r.files[0].source_rate == 22050


@pytest.mark.parametrize("rate", [8000, 11025, 32000, 96000])
def test_read_mono_48k_odd_rates_stereo(tmp_path, rate):
    x = 0.25 * np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate)
    sf.write(str(tmp_path / "s.wav"), np.stack([x, x], axis=1), rate)
    y = read_mono_48k(tmp_path / "s.wav")
    assert y.dtype == np.float32 and abs(y.size - 24000) <= 5
    assert 0.23 * 32768 < np.abs(y[2000:-2000]).max() < 0.27 * 32768


def test_read_audio_rejects_empty(tmp_path):
    sf.write(str(tmp_path / "e.wav"), np.zeros(0), 16000)
    with pytest.raises(AudioError, match="no samples"):
        read_mono_48k(tmp_path / "e.wav")


def _lying_flac(path, frames_claimed: int = (1 << 36) - 1):
    """A FLAC file of 4,800 samples whose STREAMINFO claims ``frames_claimed``."""
    sf.write(str(path), 0.1 * np.ones(4800), 48000, subtype="PCM_16", format="FLAC")
    data = bytearray(path.read_bytes())
    at = 18  # "fLaC", block header (4), then 10 bytes of sizes: 8 bytes end with the count
    packed = int.from_bytes(data[at: at + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | frames_claimed
    data[at: at + 8] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == frames_claimed  # libsndfile believes it
    return path


def test_header_claiming_more_frames_than_the_file_holds_is_not_believed(tmp_path):
    """A header claiming 68.7 billion frames must not make the reader allocate 550 GB."""
    import tracemalloc

    lie = _lying_flac(tmp_path / "lie.flac")
    size = lie.stat().st_size
    assert audio_info(lie).frames < size * (1 << 15)  # capped by what the bytes can hold
    tracemalloc.start()
    try:
        read_audio(lie)
    except AudioError as exc:  # one line, the file named: unusable is fine, a huge buffer not
        assert str(lie) in str(exc) and "\n" not in str(exc)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 64 << 20


def test_honest_headers_read_every_frame(tmp_path):
    for fmt, sub, name in [("WAV", "PCM_16", "a.wav"), ("FLAC", "PCM_24", "a.flac"),
                           ("W64", "FLOAT", "a.w64"), ("AIFF", "PCM_16", "a.aiff")]:
        x = 0.2 * np.sin(np.arange(7000) / 5.0)
        sf.write(str(tmp_path / name), x, 16000, subtype=sub, format=fmt)
        audio, _, _ = read_audio(tmp_path / name)
        assert audio.shape == (7000, 1) and audio_info(tmp_path / name).frames == 7000
