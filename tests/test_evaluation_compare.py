"""``rnnoise-kit compare`` end to end with a stand-in denoiser (and the real one when present)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pesq")
pytest.importorskip("pystoi")
pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")

from rnnoise_kit.errors import InputError, PartialFailure  # noqa: E402
from rnnoise_kit.evaluation import compare as cmp  # noqa: E402

COLUMNS = ["model", "file", "pesq", "stoi", "estoi", "si_sdr", "segsnr", "dnsmos_sig",
           "dnsmos_bak", "dnsmos_ovrl", "vad_mean", "x_realtime", "snr"]


class SpectralSubtraction:
    """Stand-in with the Denoiser interface: spectral subtraction, output delayed 480."""

    def __init__(self, strength: float = 1.0, delay: int = 480):
        self.strength, self.delay = strength, delay

    def denoise(self, audio, sample_rate):
        from scipy.signal import istft, stft

        x = np.asarray(audio, dtype=np.float64)
        _, _, z = stft(x, nperseg=1024)
        mag = np.abs(z)
        frame_energy = np.mean(mag**2, axis=0)
        quiet = frame_energy <= np.quantile(frame_energy, 0.1)
        noise = mag[:, quiet].mean(axis=1, keepdims=True)
        gain = np.maximum(0.05, 1.0 - self.strength * noise / np.maximum(mag, 1e-12))
        _, y = istft(z * gain, nperseg=1024)
        y = np.concatenate([np.zeros(self.delay), y])[: x.size]
        y = np.pad(y, (0, x.size - y.size)).astype(np.asarray(audio).dtype)
        n_frames = x.size // 480
        e = np.mean(x[: n_frames * 480].reshape(n_frames, 480) ** 2, axis=1)
        vad = (e > np.median(e)).astype(np.float64)
        return y, vad


def standin_factory(spec: str):
    """Module-level (picklable) factory: 'ss' and 'ss_half' stand-ins; anything else fails."""
    if spec == "ss":
        return SpectralSubtraction(1.0)
    if spec == "ss_half":
        return SpectralSubtraction(0.5, delay=0)
    if spec == "broken":
        raise InputError(spec, "no such model")
    raise InputError(spec, "unknown stand-in model")


@pytest.fixture(scope="module")
def testset(reference, tmp_path_factory) -> Path:
    from rnnoise_kit.audio.mix import mix

    out = tmp_path_factory.mktemp("ev") / "set"
    a = reference / "audio"
    mix([a / "speech_a.wav"], [a / "noise_a.wav"], out, count=4, seconds=10.0,
        snr=(0.0, 10.0), seed=3)
    return out


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_model_specs_labels():
    specs = cmp.model_specs(["/m/std.rnnn", "x/std.rnnn", "mine=/m/sh.rnnn", "noisy",
                             "rnnoise-0.2", "sh", "a.rnnn"])
    assert [s.label for s in specs] == ["std", "std_2", "mine", "noisy_2", "rnnoise-0.2",
                                        "sh", "a"]
    assert specs[2].spec == "/m/sh.rnnn"
    with pytest.raises(InputError):
        cmp.model_specs([])


def test_model_specs_with_options():
    """``MODEL@OPTIONS``: the label keeps the options, so a report can show the trade-off;
    '@' inside a file name stays part of the name, and a LABEL never holds '@'."""
    specs = cmp.model_specs(["std", "std@12", "std@6dB,mix=0.5", "/m/std.rnnn@mix=-1",
                             "x/a@b.rnnn", "mine=std@24", "std@mix=0.5"])
    assert [s.label for s in specs] == ["std", "std@12", "std@6,mix=0.5", "std@mix=-1", "a_b",
                                        "mine", "std@mix=0.5"]
    assert [s.spec for s in specs][1] == "std@12" and specs[5].spec == "std@24"


def test_compare_standin(testset, tmp_path):
    out = tmp_path / "report"
    res = cmp.compare(out, ["ss", "ss_half"], testset=testset, jobs=2,
                      denoiser_factory=standin_factory)
    for name in ("index.html", "metrics.csv", "summary.json", "charts/means.png",
                 "charts/per_snr.png"):
        assert (out / name).is_file(), name
    rows = _csv(out / "metrics.csv")
    assert set(COLUMNS) <= set(rows[0])
    assert len(rows) == 4 * 3
    assert [r["model"] for r in rows[:3]] == ["noisy", "ss", "ss_half"]
    mix_snr = {r["file"]: float(r["snr_db"]) for r in _csv(testset / "mix.csv")}
    for r in rows:
        assert float(r["snr"]) == pytest.approx(mix_snr[r["file"]], abs=1e-3)
        assert 1.0 <= float(r["pesq"]) <= 4.65
        assert 0.0 <= float(r["dnsmos_ovrl"]) <= 5.0
        if r["model"] == "noisy":
            assert r["x_realtime"] == "" and r["vad_mean"] == ""
            assert int(float(r["delay"])) == 0
        else:
            assert float(r["x_realtime"]) > 0
    # the stand-in delays its output by 480 samples: alignment must find it
    assert {int(float(r["delay"])) for r in rows if r["model"] == "ss"} == {480}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"noisy", "ss", "ss_half"}
    assert summary["models"]["ss"]["pesq"] > summary["models"]["noisy"]["pesq"]
    assert summary["files"] == 4 and res.failures == {}
    assert "paired" not in summary  # only with against
    page = (out / "index.html").read_text()
    assert page.count("<audio") == 4 * 4  # noisy, clean and two models per file
    assert page.count('class="best"') > 0
    for rel in ("audio/", "spectrograms/"):
        assert rel in page
    assert not list(out.rglob(".*"))  # no temporary files left


def test_compare_against_adds_paired_differences(testset, tmp_path):
    """``against``: summary.json gets every other row's file-by-file differences from it, and
    the page a table of them."""
    from rnnoise_kit.errors import SettingError

    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for p in sorted((testset / "noisy").iterdir())[:2]:
        (noisy / p.name).write_bytes(p.read_bytes())
    with pytest.raises(SettingError, match=r"against must be one of the rows noisy, ss, "
                                           r"ss_half \(got 'std'\)"):
        cmp.compare(tmp_path / "no", ["ss", "ss_half"], noisy=noisy, against="std",
                    denoiser_factory=standin_factory)
    assert not (tmp_path / "no").exists()  # refused before any work
    out = tmp_path / "rep"
    res = cmp.compare(out, ["ss", "ss_half"], noisy=noisy, clean=testset / "clean", jobs=1,
                      denoiser_factory=standin_factory, spectrograms=False, against="ss")
    section = json.loads((out / "summary.json").read_text())["paired"]
    assert section == res.summary["paired"]
    assert (section["against"], section["confidence"], section["resamples"]) == (
        "ss", 0.95, 10_000)
    assert list(section["sets"]) == ["test"] and list(section["sets"]["test"]) == [
        "noisy", "ss_half"]
    half = section["sets"]["test"]["ss_half"]
    assert "x_realtime" not in half and "vad_mean" not in half
    rows = _csv(out / "metrics.csv")
    for metric in ("pesq", "dnsmos_ovrl"):
        by = {(r["model"], r["file"]): float(r[metric]) for r in rows}
        diffs = [by["ss_half", f] - by["ss", f] for f in {r["file"] for r in rows}]
        assert half[metric]["n"] == 2
        assert half[metric]["mean"] == pytest.approx(np.mean(diffs), abs=1e-4)
        low, high = half[metric]["ci"]
        assert min(diffs) - 1e-4 <= low <= high <= max(diffs) + 1e-4
    page = (out / "index.html").read_text()
    assert "<h2>Against ss: mean difference [95 % CI], share of files better</h2>" in page
    assert page.count('<table class="paired">') == 1


def test_compare_noisy_only_and_partial(testset, tmp_path):
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for p in sorted((testset / "noisy").iterdir())[:2]:
        (noisy / p.name).write_bytes(p.read_bytes())
    (noisy / "bad.wav").write_bytes(b"not audio at all")
    out = tmp_path / "rep"
    with pytest.raises(PartialFailure) as info:
        cmp.compare(out, ["ss"], noisy=noisy, jobs=1, denoiser_factory=standin_factory)
    assert list(info.value.failures) == [str(noisy / "bad.wav")]
    result = info.value.result  # the report of the files that worked
    assert isinstance(result, cmp.CompareResult) and info.value.done == len(result.files) == 2
    rows = _csv(out / "metrics.csv")
    assert len(rows) == 4
    assert all(r["pesq"] == "" and r["snr"] == "" and r["dnsmos_ovrl"] != "" for r in rows)
    assert (out / "index.html").is_file() and not (out / "charts/per_snr.png").exists()


def test_compare_errors(testset, tmp_path):
    with pytest.raises(InputError, match="no such model"):
        cmp.compare(tmp_path / "r", ["broken"], testset=testset,
                    denoiser_factory=standin_factory)
    with pytest.raises(InputError, match="noisy/"):
        cmp.compare(tmp_path / "r", ["ss"], testset=tmp_path,
                    denoiser_factory=standin_factory)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.wav").write_bytes(b"junk")
    with pytest.raises(InputError, match="no file could be scored"):
        cmp.compare(tmp_path / "r2", ["ss"], noisy=empty, denoiser_factory=standin_factory)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_report_is_replaced_whole_or_not_at_all(testset, tmp_path, monkeypatch):
    """A compare that failed (or was killed) while writing its report left part of one in
    the folder: new audio beside the old page, or audio and no page at all."""
    import errno

    from rnnoise_kit.errors import OutputError
    from rnnoise_kit.evaluation import report

    noisy = tmp_path / "noisy"
    noisy.mkdir()
    for p in sorted((testset / "noisy").iterdir())[:2]:
        (noisy / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "rep"
    cmp.compare(out, ["ss"], noisy=noisy, jobs=1, denoiser_factory=standin_factory,
                spectrograms=False)
    before = _snapshot(out)
    real = report.write_report

    def full_disk_after_the_csv(folder, *a, **k):
        (folder / "metrics.csv").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "write_report", full_disk_after_the_csv)
    with pytest.raises(OutputError, match="no space left"):
        cmp.compare(out, ["ss_half"], noisy=noisy, jobs=1, denoiser_factory=standin_factory)
    assert _snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == ["noisy", "rep"]  # no staging folder left
    monkeypatch.setattr(report, "write_report", real)
    cmp.compare(out, ["ss_half"], noisy=noisy, jobs=1, denoiser_factory=standin_factory)
    after = _snapshot(out)
    assert all(name.startswith(("audio/", "spectrograms/", "charts/")) or name in report.ENTRIES
               for name in after)
    assert not any(".ss." in name for name in after)  # the first report's files are gone
    assert sum(".ss_half." in name for name in after) == 2 * 2  # audio + spectrogram each


def test_a_folder_of_someone_elses_files_is_refused_before_work(testset, tmp_path):
    """A new report replaces ``audio/`` etc. whole: only an earlier report's may go."""
    from rnnoise_kit.errors import OutputError

    out = tmp_path / "mine"
    (out / "audio").mkdir(parents=True)
    (out / "audio" / "song.flac").write_bytes(b"keep me")
    with pytest.raises(OutputError, match="holds audio but no rnnoise-kit report"):
        cmp.compare(out, ["ss"], testset=testset, jobs=1, denoiser_factory=standin_factory)
    assert _snapshot(out) == {"audio/song.flac": b"keep me"}
    assert sorted(os.listdir(tmp_path)) == ["mine"]
    # the sweep's `compare --noisy DIR -o DIR`: the report's audio became test input
    before = _snapshot(testset)
    for folder, args in ((testset / "noisy", {"noisy": testset / "noisy"}),
                         (testset / "clean" / "r", {"testset": testset})):
        with pytest.raises(OutputError, match="lies in the input folder"):
            cmp.compare(folder, ["ss"], jobs=1, denoiser_factory=standin_factory, **args)
    assert _snapshot(testset) == before


def test_rnnoise_02_without_pyrnnoise_is_one_clear_line(monkeypatch, tmp_path):
    import rnnoise_kit.model.v02.library as library

    monkeypatch.setattr(library, "pyrnnoise_library", lambda: None)
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InputError, match="pip install pyrnnoise") as err:
        cmp.default_factory("rnnoise-0.2")
    assert "\n" not in str(err.value)


def test_rnnoise_02_rows_use_the_denoiser(testset, reference, tmp_path, monkeypatch):
    """``rnnoise-0.2`` and a 0.2 ``.bin`` (with options) run rnnoise-kit's 0.2 path: no
    pyrnnoise needed once the blob is in the cache."""
    from rnnoise_kit.denoise import FrameProcessor02

    blob = reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "rnnoise-0.2.bin").write_bytes(blob.read_bytes())
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(cache))
    d = cmp.default_factory("rnnoise-0.2@12")
    assert isinstance(d.processor, FrameProcessor02) and d.max_attenuation_db == 12.0
    out = tmp_path / "rep"
    cmp.compare(out, ["rnnoise-0.2", f"{blob}@mix=0.5"], testset=testset, jobs=1)
    rows = _csv(out / "metrics.csv")
    assert {r["model"] for r in rows} == {"noisy", "rnnoise-0.2",
                                         "pyrnnoise-0.4.5-weights@mix=0.5"}


def _real_denoiser_available() -> bool:
    try:
        from rnnoise_kit.denoise import Denoiser  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _real_denoiser_available() and os.environ.get("CI") != "true",
                    reason="rnnoise_kit.denoise not available yet")
def test_acceptance_real_models(testset, reference, tmp_path):
    """Issue 9 acceptance: std.rnnn and sh.rnnn both beat the noisy baseline on PESQ."""
    from rnnoise_kit.cli import main

    out = tmp_path / "report"
    models = reference / "models"
    code = main(["compare", "--testset", str(testset), "--model", str(models / "std.rnnn"),
                 "--model", str(models / "sh.rnnn"), "-o", str(out), "--jobs", "2"])
    assert code == 0
    rows = _csv(out / "metrics.csv")
    assert set(COLUMNS) <= set(rows[0]) and len(rows) == 12
    assert (out / "index.html").is_file()
    summary = json.loads((out / "summary.json").read_text())["models"]
    for m in ("std", "sh"):
        assert summary[m]["pesq"] > summary["noisy"]["pesq"], (m, summary)
        assert abs(sf.info(str(next((out / "audio").glob(f"*.{m}.flac")))).duration - 10) < 1e-3


@pytest.mark.skipif(not _real_denoiser_available() and os.environ.get("CI") != "true",
                    reason="rnnoise_kit.denoise not available yet")
def test_cli_exit_codes(testset, reference, tmp_path, capsys):
    from rnnoise_kit.cli import main

    std = str(reference / "models" / "std.rnnn")
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    src = sorted((testset / "noisy").iterdir())[0]
    (noisy / src.name).write_bytes(src.read_bytes())
    (noisy / "zz_bad.wav").write_bytes(b"RIFF....WAVEjunk")
    out = tmp_path / "rep"
    assert main(["compare", "--noisy", str(noisy), "--clean", str(testset / "clean"),
                 "--model", std, "-o", str(out), "-j", "1", "--no-spectrograms"]) == 1
    err = capsys.readouterr().err
    assert "zz_bad.wav" in err and "1 input(s) failed" in err
    rows = _csv(out / "metrics.csv")
    assert [r["model"] for r in rows] == ["noisy", "std"] and rows[1]["pesq"] != ""
    assert not (out / "spectrograms").exists()
    # nothing usable, a missing model, bad arguments: exit 2, one line
    assert main(["compare", "--noisy", str(tmp_path / "none"), "--model", std,
                 "-o", str(out)]) == 2
    assert main(["compare", "--testset", str(testset), "--model",
                 str(tmp_path / "missing.rnnn"), "-o", str(out)]) == 2
    assert main(["compare", "--testset", str(testset), "--clean", str(testset),
                 "--model", std, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("rnnoise-kit: ") for line in err)


@pytest.mark.skipif(not _real_denoiser_available() and os.environ.get("CI") != "true",
                    reason="rnnoise_kit.denoise not available yet")
def test_cli_against(testset, reference, tmp_path, capsys):
    """``--against LABEL``: a paired table printed and in summary.json; an unknown label is
    exit 2 with one line, before any work."""
    from rnnoise_kit.cli import main

    std = str(reference / "models" / "std.rnnn")
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    src = sorted((testset / "noisy").iterdir())[0]
    (noisy / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "rep"
    args = ["compare", "--noisy", str(noisy), "--clean", str(testset / "clean"), "-m", std,
            "-m", f"{std}@6", "-o", str(out), "-j", "1", "--no-spectrograms"]
    assert main([*args, "--against", "sh"]) == 2
    captured = capsys.readouterr()
    assert captured.err == ("rnnoise-kit: --against must be one of the rows noisy, std, std@6 "
                            "(got 'sh')\n")
    assert not out.exists()
    assert main([*args, "--against", "std"]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the title may wrap
    assert "against std: mean difference [95 % CI], share of files better" in printed
    section = json.loads((out / "summary.json").read_text())["paired"]
    assert section["against"] == "std"
    entries = section["sets"]["test"]
    assert list(entries) == ["noisy", "std@6"]
    assert entries["std@6"]["pesq"]["n"] == 1 and entries["std@6"]["pesq"]["ci"] is not None


@pytest.mark.skipif(not _real_denoiser_available() and os.environ.get("CI") != "true",
                    reason="rnnoise_kit.denoise not available yet")
def test_attenuation_limit_and_mix_rows(testset, tmp_path):
    """``-m MODEL@DB`` and ``-m MODEL@mix=M`` rows next to the plain model (issue 14 item 8)."""
    from rnnoise_kit.cli import main

    noisy = tmp_path / "noisy"
    noisy.mkdir()
    src = sorted((testset / "noisy").iterdir())[0]
    (noisy / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "rep"
    assert main(["compare", "--noisy", str(noisy), "--clean", str(testset / "clean"),
                 "-m", "bundled", "-m", "bundled@6", "-m", "bundled@mix=0", "-o", str(out),
                 "-j", "1", "--no-spectrograms"]) == 0
    rows = {r["model"]: r for r in _csv(out / "metrics.csv")}
    assert list(rows) == ["noisy", "bundled", "bundled@6", "bundled@mix=0"]
    audio = {m: sf.read(next((out / "audio").glob(f"*.{m}.flac")))[0] for m in rows}
    # mix=0 is the input itself (to 16-bit rounding); a 6 dB limit keeps more of the noise
    np.testing.assert_allclose(audio["bundled@mix=0"], audio["noisy"], atol=1.5 / 32768)
    energy = {m: float(np.mean(a**2)) for m, a in audio.items()}
    assert energy["bundled"] < energy["bundled@6"] < energy["noisy"]
    assert "bundled@6" in (out / "index.html").read_text()
