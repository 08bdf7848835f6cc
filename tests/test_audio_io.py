"""Formats the dataset commands rely on: mp3 and odd rates through ``read_mono_48k``."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.io import read_mono_48k
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
