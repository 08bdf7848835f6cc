"""``compare`` with real recordings (no clean references) beside a generated test set, and the
public baselines by name; the recordings are RNNoise_Wrapper's (../shared/reference/wrapper)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pesq")
pytest.importorskip("pystoi")
pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")

from rnnoise_kit.cli import main  # noqa: E402
from rnnoise_kit.errors import InputError  # noqa: E402
from rnnoise_kit.evaluation import compare as cmp  # noqa: E402
from test_evaluation_compare import _csv as _rows  # noqa: E402
from test_evaluation_compare import (  # noqa: E402
    standin_factory,
    testset,  # noqa: F401  (the fixture)
)


@pytest.fixture(scope="module")
def recordings(reference) -> list[Path]:
    # the noisy recordings only: the folder also holds the wrapper's denoised outputs
    return [reference / "wrapper" / f"test_{i}.wav" for i in (1, 2)]


def test_real_set_beside_generated(testset, recordings, tmp_path):  # noqa: F811
    out = tmp_path / "report"
    res = cmp.compare(out, ["ss"], testset=testset, real=recordings, jobs=1,
                      spectrograms=False, denoiser_factory=standin_factory)
    rows = _rows(out / "metrics.csv")
    assert len(rows) == (4 + 2) * 2
    real = [r for r in rows if r["set"] == "real"]
    test = [r for r in rows if r["set"] == "test"]
    assert {r["file"] for r in real} == {"real/test_1.wav", "real/test_2.wav"}
    # no reference: no intrusive metric, but DNSMOS for every row and the models' VAD
    assert all(r["pesq"] == "" and r["si_sdr"] == "" and r["dnsmos_ovrl"] != "" for r in real)
    assert all(r["vad_mean"] != "" for r in real if r["model"] == "ss")
    assert all(r["pesq"] != "" for r in test)
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["sets"]) == ["test", "real"]
    assert summary["sets"]["real"]["files"] == 2 and summary["sets"]["test"]["files"] == 4
    assert summary["sets"]["real"]["models"]["ss"]["pesq"] is None
    assert summary["sets"]["real"]["models"]["ss"]["dnsmos_ovrl"] is not None
    # the top-level means stay the test set's (what the pipeline and older readers use)
    assert summary["models"] == summary["sets"]["test"]["models"]
    assert res.summary["files"] == 4
    page = (out / "index.html").read_text()
    assert "Means per model: test set" in page
    assert "Means per model: real recordings" in page


def test_real_set_alone(recordings, tmp_path):
    res = cmp.compare(tmp_path / "r", ["ss"], real=recordings[:1], jobs=1, spectrograms=False,
                      denoiser_factory=standin_factory)
    assert list(res.summary["sets"]) == ["real"]
    assert res.summary["models"]["ss"]["dnsmos_sig"] is not None
    with pytest.raises(InputError, match="real recordings"):
        cmp.compare(tmp_path / "r2", ["ss"], denoiser_factory=standin_factory)
    with pytest.raises(InputError, match="no such file"):
        cmp.compare(tmp_path / "r3", ["ss"], real=[tmp_path / "missing"],
                    denoiser_factory=standin_factory)


def _cache_with(reference, tmp_path, names) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in names:
        shutil.copy(reference / "models" / f"{name}.rnnn", cache / f"{name}.rnnn")
    return cache


def test_available_baselines(reference, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(_cache_with(reference, tmp_path, ["std", "sh"])))
    names, missing = cmp.available_baselines()
    assert [n for n in names if n != "rnnoise-0.2"] == ["std", "sh"]
    assert set(missing) >= {"bd", "cb", "lq", "mp"}
    assert "rnnoise-kit model get bd" in missing["bd"]
    has_pyrnnoise = importlib.util.find_spec("pyrnnoise") is not None
    assert ("rnnoise-0.2" in names) == has_pyrnnoise
    (tmp_path / "cache" / "sh.rnnn").write_text("changed")
    names, missing = cmp.available_baselines()
    assert "sh" not in names and "modified" in missing["sh"]


def test_cli_real_and_baselines(reference, recordings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(_cache_with(reference, tmp_path, ["std"])))
    monkeypatch.setattr(cmp, "available_baselines",
                        lambda: (["std"], {"bd": "missing in the model cache"}))
    out = tmp_path / "rep"
    rc = main(["compare", "--real", str(recordings[0]), "--baselines", "-o", str(out),
               "--jobs", "1", "--no-spectrograms"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "baseline bd left out: missing in the model cache" in cap.err
    assert {r["model"] for r in _rows(out / "metrics.csv")} == {"noisy", "std"}
    assert main(["compare", "-o", str(out), "-m", "std"]) == 2
    assert "give --testset, --noisy or --real" in capsys.readouterr().err
