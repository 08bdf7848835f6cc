"""``rnnoise-kit model convert`` and ``model info``."""

from __future__ import annotations

import json
import subprocess
import sys

from rnnoise_kit.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnoise_kit", *args], capture_output=True, text=True
    )


def test_convert_and_info(reference, tmp_path, capsys):
    src = reference / "models" / "keras" / "sh.hdf5"
    assert main(["model", "convert", str(src), str(tmp_path / "sh.c")]) == 0
    assert (tmp_path / "sh.h").is_file()
    assert main(["model", "convert", str(tmp_path / "sh.c"), str(tmp_path / "sh.rnnn")]) == 0
    want = (reference / "models" / "sh.rnnn").read_bytes()
    assert (tmp_path / "sh.rnnn").read_bytes() == want
    capsys.readouterr()
    assert main(["model", "info", str(tmp_path / "sh.rnnn")]) == 0
    out = capsys.readouterr().out
    for text in (
        "rnnoise-nu model file version 1",
        "denoise_gru",
        "relu",
        "sha256",
        "arnndn",
        "RNNoise 0.2 and later",
    ):
        assert text in out
    assert main(["model", "info", "--json", str(src)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "keras" and info["parameters"] == 87503
    assert [lay["activation"] for lay in info["layers"]] == [
        "tanh",
        "tanh",
        "relu",
        "tanh",
        "sigmoid",
        "sigmoid",
    ]


def test_info_on_truncated_file_is_one_line(reference, tmp_path):
    bad = tmp_path / "cut.rnnn"
    bad.write_bytes((reference / "models" / "std.rnnn").read_bytes()[:100000])
    r = _cli("model", "info", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(bad) in lines[0] and "truncated" in lines[0]
    assert r.stdout == ""


def test_convert_errors(tmp_path):
    (tmp_path / "bad.c").write_text("int x;\n")
    r = _cli("model", "convert", str(tmp_path / "bad.c"), str(tmp_path / "out.rnnn"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.rnnn").exists()
    r = _cli("model", "convert", str(tmp_path / "missing.rnnn"), str(tmp_path / "o.rnnn"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_info_and_convert_v02(reference, tmp_path, capsys):
    from rnnoise_kit.model.v02 import format_blob, random_model

    blob = reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"
    assert main(["model", "info", str(blob)]) == 0
    out = capsys.readouterr().out
    assert "generation:  RNNoise 0.2 (main-branch network, skip heads)" in out
    assert "3 GRUs of 384" in out and "heads read 1536" in out
    assert "parameters:  2888225 in 50 arrays" in out
    assert "gru1_recurrent    384 -> 1152  int8 + float  runs float" in out
    assert main(["model", "info", "--json", str(blob)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["generation"], info["gru_size"], info["precision"]) == ("0.2", 384, "float")
    small = tmp_path / "small.bin"
    small.write_bytes(format_blob(list(random_model(1, float_twins=False).records)))
    assert main(["model", "convert", str(small), str(tmp_path / "s.c")]) == 0
    assert main(["model", "convert", str(tmp_path / "s.c"), str(tmp_path / "back.bin")]) == 0
    assert (tmp_path / "back.bin").read_bytes() == small.read_bytes()
    assert main(["model", "info", str(tmp_path / "s.c")]) == 0
    assert "runs int8" in capsys.readouterr().out
    r = _cli("model", "convert", str(small), str(tmp_path / "s.rnnn"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "an RNNoise 0.2 model cannot be written as .rnnn" in r.stderr
    assert not (tmp_path / "s.rnnn").exists()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(small.read_bytes()[:5000])
    r = _cli("model", "info", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "bad.bin: array 'conv1_weights_float'" in r.stderr and "truncated" in r.stderr
