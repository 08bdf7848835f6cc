"""`rnnoise-kit denoise` and the file API under it (plan_outputs, denoise_files): files of every
kind, output planning, partial failures, exit codes, one-line errors, atomic outputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from rnnoise_kit.cli import main as cli
from rnnoise_kit.model import random_model, save_model
from test_denoise_api import noisy_signal


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "random.rnnn"
    save_model(random_model(), path)
    return path


@pytest.mark.parametrize(
    ("suffix", "rate", "channels", "subtype"),
    [("wav", 16000, 1, "PCM_16"), ("wav", 44100, 2, "FLOAT"), ("flac", 48000, 2, "PCM_24"),
     ("ogg", 48000, 1, "VORBIS")],
)
def test_file_keeps_rate_channels_subtype(tmp_path, model_file, suffix, rate, channels, subtype):
    src = tmp_path / f"in.{suffix}"
    sf.write(src, noisy_signal(0.5, rate, channels), rate, subtype=subtype)
    dst = tmp_path / f"out.{suffix}"
    assert cli(["denoise", str(src), "-o", str(dst), "--model", str(model_file)]) == 0
    info, src_info = sf.info(dst), sf.info(src)
    assert (info.samplerate, info.channels, info.subtype) == (rate, channels, subtype)
    assert abs(info.frames - src_info.frames) <= (0 if suffix != "ogg" else 1024)


@pytest.mark.parametrize("out_suffix", ["raw", "wav", "flac"])
def test_16_bit_outputs_hold_the_denoised_samples(tmp_path, model_file, out_suffix):
    """A 48 kHz s16 .raw input (the recipe's format) denoised into .raw, .wav or .flac: the
    file holds exactly the int16 samples ``Denoiser.denoise`` returns (once, a .raw output
    was the int16 result scaled by 32768 again, saturating every other sample)."""
    from rnnoise_kit.denoise import Denoiser
    from rnnoise_kit.model import load_model

    pcm = np.rint(noisy_signal(0.5, 48000) * 32767).astype(np.int16)
    src = tmp_path / "in.raw"
    pcm.astype("<i2").tofile(src)
    dst = tmp_path / f"out.{out_suffix}"
    assert cli(["denoise", str(src), "-o", str(dst), "--model", str(model_file)]) == 0
    want, _ = Denoiser(load_model(model_file)).denoise(pcm, 48000)
    if out_suffix == "raw":
        got = np.fromfile(dst, "<i2")
    else:
        got, rate = sf.read(dst, dtype="int16")
        assert rate == 48000 and sf.info(dst).subtype == "PCM_16"
    np.testing.assert_array_equal(got, want)


def test_out_dir_with_a_bad_file_is_partial(tmp_path, model_file, capsys):
    good = tmp_path / "good.wav"
    sf.write(good, noisy_signal(0.3, 16000), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEnot audio")
    out = tmp_path / "out"
    rc = cli(["denoise", str(good), str(bad), "--out-dir", str(out), "--model", str(model_file)])
    assert rc == 1
    assert (out / "good.wav").is_file()
    assert not (out / "bad.wav").exists()
    assert "bad.wav" in capsys.readouterr().err


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnoise_kit", *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty", "nan", "bad-model"])
def test_bad_input_one_line_exit_2_no_output(tmp_path, model_file, case):
    src = tmp_path / "in.wav"
    model = model_file
    if case == "corrupt":
        src.write_bytes(b"\x00\x01garbage" * 10)
    elif case == "empty":
        sf.write(src, np.zeros((0, 1)), 48000)
    elif case == "nan":
        sf.write(src, np.array([0.1, np.nan, 0.2] * 1000), 48000, subtype="FLOAT")
    elif case == "bad-model":
        sf.write(src, noisy_signal(0.2, 48000), 48000)
        model = tmp_path / "cut.rnnn"
        model.write_text(model_file.read_text()[:5000])
    out = tmp_path / "out.wav"
    r = run_cli("denoise", str(src), "-o", str(out), "--model", str(model))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert (model.name if case == "bad-model" else src.name) in lines[0]
    assert not out.exists()
    assert list(tmp_path.glob(".out.wav*")) == []


def test_no_model_uses_the_bundled_one(tmp_path):
    src, out = tmp_path / "in.wav", tmp_path / "o.wav"
    sf.write(src, noisy_signal(0.2, 48000), 48000)
    r = run_cli("denoise", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sf.info(out).frames == sf.info(src).frames


def test_without_a_bundled_model_says_how_to_get_one(tmp_path, monkeypatch):
    from rnnoise_kit.errors import InputError
    from rnnoise_kit.model import registry

    monkeypatch.setattr(registry, "_bundled_path", lambda: tmp_path / "none.rnnn")
    with pytest.raises(InputError, match="rnnoise-kit model get std"):
        registry.default_model_path()


# ----------------------------------------------------------------------------- file API


def test_plan_outputs_maps_inputs_and_refuses_bad_plans(tmp_path):
    from rnnoise_kit.denoise import plan_outputs
    from rnnoise_kit.errors import OutputError, SettingError

    a, b = str(tmp_path / "x" / "a.wav"), str(tmp_path / "y" / "b.flac")
    assert plan_outputs([a], output="o.wav") == [(a, "o.wav")]
    out = tmp_path / "out"
    assert plan_outputs([a, b], out_dir=out) == [(a, str(out / "a.wav")), (b, str(out / "b.flac"))]
    cases = [(([a, b],), {"output": "o.wav"}, "output"),
             (([a],), {}, "output"),
             (([a],), {"output": "o.wav", "out_dir": out}, "output"),
             (([],), {"out_dir": out}, "inputs"),
             (([a, str(tmp_path / "z" / "a.wav")],), {"out_dir": out}, "out_dir")]
    for args, kwargs, setting in cases:
        with pytest.raises(SettingError) as err:
            plan_outputs(*args, **kwargs)
        assert err.value.setting == setting and "--" not in str(err.value)
    src = tmp_path / "x" / "a.wav"
    src.parent.mkdir()
    sf.write(src, noisy_signal(0.1, 48000), 48000)
    with pytest.raises(OutputError, match="would overwrite its input"):
        plan_outputs([src], out_dir=src.parent)


def test_denoise_files_partial_failure_is_typed(tmp_path, model_file):
    from rnnoise_kit.denoise import DenoiseFilesResult, Denoiser, denoise_files
    from rnnoise_kit.errors import InputError, PartialFailure

    good = tmp_path / "good.wav"
    sf.write(good, noisy_signal(0.3, 16000), 16000)
    bad, bad2 = tmp_path / "bad.wav", tmp_path / "bad2.wav"
    bad.write_bytes(b"RIFF....WAVEnot audio")
    bad2.write_bytes(b"junk")
    out = tmp_path / "out"
    out.mkdir()
    den = Denoiser(model_file)
    pairs = [(str(bad), str(out / "bad.wav")), (str(good), str(out / "good.wav"))]
    with pytest.raises(PartialFailure) as err:
        denoise_files(pairs, den)
    exc = err.value
    assert exc.done == 1 and list(exc.failures) == [str(bad)]
    assert isinstance(exc.result, DenoiseFilesResult)
    assert exc.result.outputs == {str(good): str(out / "good.wav")}
    assert (out / "good.wav").is_file() and not (out / "bad.wav").exists()

    with pytest.raises(PartialFailure) as err:  # several inputs, none done
        denoise_files([(bad, out / "1.wav"), (bad2, out / "2.wav")], den)
    assert err.value.done == 0 and err.value.result.outputs == {}
    assert "no input could be processed" in str(err.value)
    with pytest.raises(InputError, match="bad.wav"):  # the only input failed: its own error
        denoise_files([(bad, out / "1.wav")], den)
    done = denoise_files([(good, out / "g2.wav")], den)
    assert done.outputs == {str(good): str(out / "g2.wav")} and done.failures == {}


def test_cli_names_its_options_where_the_library_names_settings(tmp_path, model_file, capsys):
    src = tmp_path / "in.wav"
    sf.write(src, noisy_signal(0.1, 48000), 48000)
    rc = cli(["denoise", str(src), str(src), "-o", str(tmp_path / "o.wav")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("rnnoise-kit: --output is one file") and err.count("\n") == 1
    rc = cli(["denoise", str(src), "-o", str(tmp_path / "o.wav"), "--max-attenuation", "-3",
              "--model", str(model_file)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("rnnoise-kit: --max-attenuation must be")
    rc = cli(["denoise", str(src), str(tmp_path / "y" / "in.wav"), "--out-dir",
              str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "--out-dir needs distinct input names" in err


def test_cli_every_input_failing_is_exit_2_naming_each(tmp_path, model_file, capsys):
    bad = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for p in bad:
        p.write_bytes(b"junk")
    rc = cli(["denoise", *map(str, bad), "--out-dir", str(tmp_path / "o"),
              "--model", str(model_file)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert [ln.split(": ")[1] for ln in lines[:2]] == [str(p) for p in bad]
    assert lines[-1].startswith("rnnoise-kit: no input could be processed (2 failed)")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_below_one_is_refused(tmp_path, model_file, capsys, jobs):
    src = tmp_path / "in.wav"
    sf.write(str(src), noisy_signal(0.1, 48000), 48000)
    out = tmp_path / "out"
    assert cli(["denoise", str(src), "--out-dir", str(out), "--model", str(model_file),
                "--jobs", jobs]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"rnnoise-kit: --jobs must be at least 1 (got {jobs})"]
    assert not (out / "in.wav").exists()
    from rnnoise_kit.denoise import Denoiser, denoise_files
    from rnnoise_kit.errors import SettingError

    with pytest.raises(SettingError, match="^jobs must be at least 1") as info:
        denoise_files([(src, out / "in.wav")], Denoiser(model_file), jobs=int(jobs))
    assert info.value.setting == "jobs" and not (out / "in.wav").exists()
