"""The compare report: page content, CSV/JSON, and every image and audio player loading in
headless Chromium with no console error."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pesq")
pytest.importorskip("pystoi")
pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")

from rnnoise_kit.evaluation import report  # noqa: E402
from rnnoise_kit.evaluation.compare import compare  # noqa: E402
from test_evaluation_compare import standin_factory  # noqa: E402

PROBE = r"""
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target || {};
    errors.push('error: ' + (e.message || t.currentSrc || t.src || String(t.tagName)));
  }, true);
  var origError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return origError.apply(console, arguments);
  };
  var done = false;
  function report() {
    if (done) { return; }
    done = true;
    var imgs = Array.prototype.map.call(document.images, function (i) {
      return {src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0};
    });
    var audios = Array.prototype.map.call(document.querySelectorAll('audio'), function (a) {
      return {src: a.getAttribute('src'), readyState: a.readyState,
              error: a.error ? a.error.code : null, duration: a.duration};
    });
    var pre = document.createElement('pre');
    pre.id = 'probe-result';
    pre.textContent = JSON.stringify({images: imgs, audio: audios, errors: errors});
    document.body.appendChild(pre);
  }
  window.addEventListener('load', function () {
    var waits = Array.prototype.map.call(document.querySelectorAll('audio'), function (a) {
      if (a.readyState >= 1 || a.error) { return Promise.resolve(); }
      return new Promise(function (resolve) {
        a.addEventListener('loadedmetadata', resolve);
        a.addEventListener('error', resolve);
      });
    });
    Promise.all(waits).then(report);
    setTimeout(report, 20000);
  });
})();
"""


def _need(what: str) -> None:
    # same rule as tests/conftest.py: required under CI=true, skipped elsewhere
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium (Debian ``chromium``; fails under CI if missing)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    _need("chromium (apt-get install -y chromium)")
    raise AssertionError("unreachable")


def load_in_chromium(chromium: str, page: Path, tmp: Path) -> tuple[dict, list[str]]:
    """Load ``page`` (with the probe script injected into a copy beside it) headless.

    Returns the probe's findings and the console lines Chromium logged for the page.
    """
    probe_page = page.with_name("_probe_" + page.name)
    text = page.read_text(encoding="utf-8")
    assert "</body>" in text
    probe_page.write_text(text.replace("</body>", f"<script>{PROBE}</script></body>"),
                          encoding="utf-8")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={tmp / 'chromium-profile'}",
           "--enable-logging=stderr", "--v=0", "--mute-audio", "--virtual-time-budget=30000",
           "--dump-dom", probe_page.resolve().as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        probe_page.unlink()
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"probe found nothing (rc={proc.returncode}): {proc.stderr[-2000:]}"
    import html as _html

    found = json.loads(_html.unescape(m.group(1)))
    # console messages of the page (Chromium logs them at INFO with the page as source)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln and "file://" in ln]
    return found, console


@pytest.fixture(scope="module")
def small_report(reference, tmp_path_factory) -> Path:
    from rnnoise_kit.audio.mix import mix

    base = tmp_path_factory.mktemp("rep")
    a = reference / "audio"
    mix([a / "speech_a.wav"], [a / "noise_a.wav"], base / "set", count=2, seconds=3.0,
        snr=(0.0, 10.0), seed=5)
    compare(base / "report dir", ["ss", "ss_half"], testset=base / "set", jobs=1,
            denoiser_factory=standin_factory)
    return base / "report dir"


def test_report_loads_in_headless_chromium(chromium, small_report, tmp_path):
    t0 = time.perf_counter()
    found, console = load_in_chromium(chromium, small_report / "index.html", tmp_path)
    elapsed = time.perf_counter() - t0
    # 2 charts + 2 files x (noisy, clean, 2 models)
    assert len(found["images"]) == 2 + 2 * 4
    assert len(found["audio"]) == 2 * 4
    bad_img = [i["src"] for i in found["images"] if not i["ok"]]
    assert not bad_img, bad_img
    bad_audio = [a for a in found["audio"] if a["error"] is not None or a["readyState"] < 1]
    assert not bad_audio, bad_audio
    assert all(abs(a["duration"] - 3.0) < 0.01 for a in found["audio"])
    assert found["errors"] == [] and console == [], (found["errors"], console)
    assert elapsed < 60


def test_chromium_probe_catches_a_broken_page(chromium, small_report, tmp_path):
    broken = small_report / "broken.html"
    broken.write_text('<!DOCTYPE html><html><body><img src="missing.png">'
                      '<audio preload="metadata" src="missing.wav"></audio>'
                      "<script>console.log('x')</script></body></html>")
    try:
        found, console = load_in_chromium(chromium, broken, tmp_path)
    finally:
        broken.unlink()
    assert [i["ok"] for i in found["images"]] == [False]
    assert found["audio"][0]["error"] is not None
    assert found["errors"] and console


def test_report_is_self_contained(small_report):
    page = (small_report / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links
    for link in links:
        assert "://" not in link and not link.startswith("/"), link
        assert (small_report / link).is_file(), link
    assert "<script" not in page


def test_best_marked_per_column():
    rows = [("noisy", {"pesq": 1.2, "stoi": 0.9, "vad_mean": math.nan}),
            ("a", {"pesq": 2.0, "stoi": 0.8, "vad_mean": 0.9}),
            ("b", {"pesq": 1.5, "stoi": math.nan, "vad_mean": 0.95})]
    page = report._table_html(rows, ["pesq", "stoi", "vad_mean"])
    cells = re.findall(r"<td( class=\"best\")?>([^<]*)</td>", page)
    best = [text for cls, text in cells if cls]
    assert best == ["0.900", "2.000"]  # noisy stoi, a pesq; vad_mean is never marked


def test_csv_and_summary_values():
    rows = [{"model": "noisy", "file": "a.wav", "snr": 5.0, "pesq": 1.5, "si_sdr": math.inf,
             "x_realtime": math.nan},
            {"model": "m", "file": "a.wav", "snr": 5.0, "pesq": 2.5, "si_sdr": 3.0,
             "x_realtime": 40.0}]
    text = report.metrics_csv_text(rows)
    lines = text.splitlines()
    assert lines[0].startswith("model,file,snr,pesq,stoi,estoi,si_sdr,segsnr,dnsmos_sig")
    assert lines[1].split(",")[lines[0].split(",").index("si_sdr")] == "inf"
    assert lines[1].split(",")[lines[0].split(",").index("x_realtime")] == ""
    s = report.summarize(rows, ["noisy", "m"])
    assert s["models"]["noisy"]["si_sdr"] is None  # inf is left out of means
    assert s["models"]["m"]["pesq"] == 2.5 and s["best"]["pesq"] == "m"
    json.dumps(s, allow_nan=False)


def test_mel_spectrogram_shape():
    x = np.random.default_rng(0).standard_normal(48000 * 2) * 0.1
    m = report.mel_spectrogram(x, 48000)
    assert m.shape[0] == 96 and 150 < m.shape[1] <= 1200
    assert np.isfinite(m).all()
    long = report.mel_spectrogram(np.zeros(48000 * 60), 48000)
    assert long.shape[1] <= 1200 and long.max() == pytest.approx(-120.0)


def test_audio_formats_hold_the_same_samples(tmp_path):
    """FLAC (the default) is lossless: the same 16-bit samples as WAV, in fewer bytes."""
    import soundfile as sf

    rng = np.random.default_rng(1)
    t = np.arange(48000 * 2) / 48000
    sig = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    files = {}
    for fmt in report.AUDIO_FORMATS:
        media = report.write_file_media(tmp_path, "k", {"noisy": sig}, 48000, False, fmt)
        files[fmt] = tmp_path / media["noisy"]["audio"]
        assert files[fmt].suffix == "." + fmt
    flac, _ = sf.read(files["flac"], dtype="int16")
    wav, _ = sf.read(files["wav"], dtype="int16")
    np.testing.assert_array_equal(flac, wav)
    assert files["flac"].stat().st_size < 0.8 * files["wav"].stat().st_size


def test_compare_refuses_unknown_audio_format(tmp_path):
    from rnnoise_kit.errors import InputError

    with pytest.raises(InputError, match="flac or wav"):
        compare(tmp_path / "r", ["std"], noisy=tmp_path, audio_format="mp3")
