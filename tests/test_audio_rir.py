"""Impulse-response sources (audio/rir.py): lists of raw float32 files, folders of audio, the
early-response window, and one-line errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.audio.rir import (
    EARLY_FADE,
    EARLY_FLAT,
    MAX_RIR_SAMPLES,
    early_response,
    load_rirs,
    room_impulse_response,
)
from rnnoise_kit.errors import InputError


def test_list_of_raw_float32_is_read_relative_to_the_list(reference, tmp_path):
    inputs = reference / "v0.2" / "train_inputs"
    rirs, paths, skipped = load_rirs(inputs / "rir_list.txt")
    assert [p.name for p in paths] == ["rir_a.f32", "rir_b.f32"]
    # README: 12000 and 24000 samples
    assert [r.size for r in rirs] == [12000, 24000]
    assert all(r.dtype == np.float32 for r in rirs)
    np.testing.assert_array_equal(rirs[0], np.fromfile(inputs / "rir_a.f32", dtype=np.float32))
    assert skipped == []


def test_only_the_first_32768_samples_are_used_like_c(tmp_path):
    long = np.arange(40000, dtype=np.float32) / 40000
    long.tofile(tmp_path / "long.f32")
    (tmp_path / "list.txt").write_text("long.f32\n\n")
    rirs, _, _ = load_rirs(tmp_path / "list.txt")
    np.testing.assert_array_equal(rirs[0], long[:MAX_RIR_SAMPLES])


def test_folder_of_audio_is_resampled_to_48k_in_unit_scale(tmp_path):
    rir = np.zeros(1600)
    rir[0] = 0.5
    sf.write(tmp_path / "room.wav", rir, 16000, subtype="FLOAT")
    rirs, paths, _ = load_rirs(tmp_path)
    assert paths == [tmp_path / "room.wav"]
    assert abs(rirs[0].size - 4800) <= 1
    assert 0.3 < float(np.max(np.abs(rirs[0]))) <= 0.51


def test_early_response_window():
    rir = np.ones(1000, dtype=np.float32)
    early = early_response(rir)
    assert np.all(early[:EARLY_FLAT] == 1)
    assert early[EARLY_FLAT] == 1
    # the ramp is float32, so 1/240 holds to float32 precision
    assert early[EARLY_FLAT + EARLY_FADE - 1] == pytest.approx(1 / 240, rel=1e-5)
    assert np.all(np.diff(early[EARLY_FLAT:EARLY_FLAT + EARLY_FADE]) < 0)
    assert np.all(early[EARLY_FLAT + EARLY_FADE:] == 0)
    short = early_response(np.ones(500, dtype=np.float32))
    assert short.size == 500 and short[-1] < 1


@pytest.mark.parametrize("content,problem", [
    ("", "names no file"),
    ("missing.f32\n", "cannot read"),
])
def test_bad_lists_are_one_line_errors(tmp_path, content, problem):
    (tmp_path / "list.txt").write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        load_rirs(tmp_path / "list.txt")
    assert "\n" not in str(info.value)


def test_non_finite_response_is_refused(tmp_path):
    np.array([1.0, np.nan], dtype=np.float32).tofile(tmp_path / "bad.f32")
    (tmp_path / "list.txt").write_text("bad.f32\n")
    with pytest.raises(InputError, match="bad.f32: .*NaN"):
        load_rirs(tmp_path / "list.txt")


def test_generated_room_starts_at_the_direct_path():
    rir, info = room_impulse_response(np.random.default_rng(3), rt60=0.3)
    assert np.argmax(np.abs(rir)) == pytest.approx(48, abs=2)  # 1 ms before the peak
    assert info["rt60"] == 0.3
