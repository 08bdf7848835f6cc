"""Public model registry: `model list`, `model get` against a local HTTP server on 127.0.0.1.

The server serves ../shared/reference/models (the published files), so the real sha256 values
are checked; a second server serves a tampered file to check that a wrong checksum leaves
nothing in the cache.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from rnnoise_kit.cli import main as cli
from rnnoise_kit.model.registry import PUBLIC_MODELS, cache_dir


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep stderr for the CLI's own messages
        pass


@pytest.fixture()
def serve(monkeypatch, tmp_path):
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        monkeypatch.setenv("RNNOISE_KIT_MODEL_URL", f"http://127.0.0.1:{srv.server_port}")
        return srv

    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_get_all_checks_sha256_and_model_names_work(reference, serve, tmp_path, capsys):
    serve(reference / "models")
    assert cli(["model", "get", "all"]) == 0
    for m in PUBLIC_MODELS.values():
        assert (cache_dir() / m.filename).read_bytes() == (
            reference / "models" / m.filename
        ).read_bytes()
    wav = tmp_path / "in.wav"
    import numpy as np
    import soundfile as sf

    sf.write(wav, np.random.default_rng(0).uniform(-0.1, 0.1, 9600), 48000)
    assert cli(["denoise", str(wav), "-o", str(tmp_path / "o.wav"), "--model", "sh"]) == 0
    assert cli(["model", "list"]) == 0


def test_wrong_checksum_leaves_nothing(serve, tmp_path, capsys):
    bad = tmp_path / "srv"
    bad.mkdir()
    (bad / "std.rnnn").write_text("rnnoise-nu model file version 1\n0 0 0\n")
    serve(bad)
    assert cli(["model", "get", "std"]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and len(err.strip().splitlines()) == 1
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []


def test_missing_file_on_server_and_unknown_name(serve, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    serve(empty)
    assert cli(["model", "get", "sh"]) == 2
    assert "download failed" in capsys.readouterr().err
    assert cli(["model", "get", "nope"]) == 2
    assert "unknown model name" in capsys.readouterr().err


def test_uncached_name_says_how_to_fetch(monkeypatch, tmp_path):
    from rnnoise_kit.denoise import Denoiser
    from rnnoise_kit.errors import InputError

    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "nothing"))
    with pytest.raises(InputError, match="rnnoise-kit model get std"):
        Denoiser("std")


def test_get_several_goes_on_past_a_failure(reference, serve, capsys):
    from rnnoise_kit.errors import PartialFailure
    from rnnoise_kit.model.registry import fetch_models

    serve(reference / "models")
    assert cli(["model", "get", "nope", "std"]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == str(cache_dir() / "std.rnnn")
    assert "nope: " in err and "unknown model name" in err
    assert err.strip().splitlines()[-1] == "rnnoise-kit: 1 input(s) failed, 1 done"
    with pytest.raises(PartialFailure) as info:
        fetch_models(["std", "nope"])
    assert info.value.result == {"std": cache_dir() / "std.rnnn"} and info.value.done == 1
    assert cli(["model", "get", "nope", "nada"]) == 2  # none fetched: exit 2, each named
    err = capsys.readouterr().err
    assert "nope: " in err and "nada: " in err and "no input could be processed" in err


def _replace_cached_std(monkeypatch, tmp_path):
    """A cache whose std.rnnn was replaced by another valid model (the bundled one)."""
    from rnnoise_kit.model.registry import default_model_path

    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    cache_dir().mkdir(parents=True)
    shutil.copyfile(default_model_path(), cache_dir() / "std.rnnn")


def test_replaced_cached_model_is_refused_when_used(monkeypatch, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from rnnoise_kit.denoise import Denoiser
    from rnnoise_kit.errors import InputError
    from rnnoise_kit.model.registry import cache_status, cached_path, is_cached

    _replace_cached_std(monkeypatch, tmp_path)
    assert cache_status("std") == "modified" and not is_cached("std")
    assert cache_status("sh") == "missing"
    with pytest.raises(InputError, match="rnnoise-kit model get std"):
        cached_path("std")
    with pytest.raises(InputError, match="not the published 'std' model"):
        Denoiser("std")
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(4800), 48000)
    capsys.readouterr()
    assert cli(["denoise", str(wav), "-o", str(tmp_path / "o.wav"), "--model", "std"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "model get std" in err
    assert not (tmp_path / "o.wav").exists()
    assert cli(["model", "info", "std"]) == 2
    assert "model get std" in capsys.readouterr().err


def test_model_list_shows_a_modified_cache_entry(monkeypatch, tmp_path, capsys):
    _replace_cached_std(monkeypatch, tmp_path)
    assert cli(["model", "list"]) == 0
    err = capsys.readouterr().err  # the table goes to stderr, as every report
    std_row = next(line for line in err.splitlines() if "std.rnnn" in line)
    assert "MODIFIED" in std_row
    assert "model get std" in err


def test_pipeline_leaves_a_modified_std_out_of_the_comparison(monkeypatch, tmp_path):
    from rnnoise_kit.pipeline import _comparison_models

    _replace_cached_std(monkeypatch, tmp_path)
    said: list[str] = []
    models = _comparison_models(["bundled", "std"], said.append)
    assert [m.split("=")[0] for m in models] == ["bundled"]
    assert any("std" in line and "sha256" in line for line in said)


def test_model_info_of_an_uncached_name_says_how_to_fetch(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "nothing"))
    monkeypatch.chdir(tmp_path)
    assert cli(["model", "info", "std"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "rnnoise-kit model get std" in err


def test_model_info_of_a_cached_name(reference, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cache_dir().mkdir(parents=True)
    shutil.copyfile(reference / "models" / "std.rnnn", cache_dir() / "std.rnnn")
    assert cli(["model", "info", "std"]) == 0
    assert PUBLIC_MODELS["std"].sha256 in capsys.readouterr().out
