"""Sharded training matrices (``features -o DIR/``): same rows as one file, read like one file
by ``--inspect``, ``--convert`` and ``train``, resumed shard by shard."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import soundfile as sf

from helpers import training_noise as _noise
from helpers import training_speech as _speech
from rnnoise_kit.cli import main
from rnnoise_kit.errors import InputError
from rnnoise_kit.training import generator as G
from rnnoise_kit.training.matrix import MatrixReader, convert, inspect
from rnnoise_kit.training.sharded import INDEX_NAME, ShardedMatrix


@pytest.fixture
def audio(tmp_path):
    sp = tmp_path / "speech.raw"
    no = tmp_path / "noise.wav"
    _speech().tofile(sp)
    sf.write(str(no), _noise(), 48000, subtype="PCM_16")
    return sp, no


def _shard_bytes(folder) -> bytes:
    index = json.loads((folder / INDEX_NAME).read_text())
    return b"".join((folder / e["file"]).read_bytes() for e in index["shards"])


def test_sharded_output_equals_one_file_and_reads_like_it(tmp_path, audio, monkeypatch,
                                                          capsys):
    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", 1000)
    G.generate(sp, no, 3500, tmp_path / "m.f32", seed=4, progress=False)
    res = G.generate(sp, no, 3500, f"{tmp_path / 'm'}/", seed=4, progress=False)
    folder = tmp_path / "m"
    assert res.output == folder and res.resumed_rows == 0
    index = json.loads((folder / INDEX_NAME).read_text())
    assert index["rows"] == 3500 and index["columns"] == 87
    assert [e["rows"] for e in index["shards"]] == [1000, 1000, 1000, 500]
    assert index["attrs"]["seed"] == 4 and len(index["attrs"]["speech_sha256"]) == 64
    single = (tmp_path / "m.f32").read_bytes()
    assert _shard_bytes(folder) == single

    # read like one file: blocks, inspection, conversion, every row by position
    reader = MatrixReader(folder)
    assert reader.rows == 3500 and reader.sharded is not None
    rows = np.concatenate([b for _, b in reader.blocks(block=700)])
    assert rows.tobytes() == single
    a, b = inspect(tmp_path / "m.f32"), inspect(folder)
    assert b.rows == a.rows and np.array_equal(b.col_mean, a.col_mean)
    assert b.vad_counts == a.vad_counts
    assert convert(folder, tmp_path / "c.h5") == 3500
    with h5py.File(tmp_path / "c.h5") as f:
        assert f["data"][:].tobytes() == single
    sharded = ShardedMatrix(folder, 87)
    out = np.empty((1700, 87), np.float32)
    sharded.read_into(900, out)  # crosses two shard boundaries
    assert out.tobytes() == rows[900:2600].tobytes()
    assert list(sharded.blocks(verify=True))  # hashes match
    sharded.close()
    assert main(["features", "--inspect", f"{folder}/"]) == 0
    assert "3500 rows x 87" in capsys.readouterr().out

    # a changed shard is caught by the hash check; a missing one when opened
    data = bytearray((folder / "shard-00001.f32").read_bytes())
    data[8] ^= 1
    (folder / "shard-00001.f32").write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        list(ShardedMatrix(folder).blocks(verify=True))
    (folder / "shard-00002.f32").unlink()
    with pytest.raises(InputError, match="shard-00002.f32: shard is missing"):
        MatrixReader(folder)


def test_compat_sharded_equals_compat_file(tmp_path, audio, monkeypatch):
    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", 2822 * 2)
    G.generate(sp, no, 12000, tmp_path / "c.f32", compat=True, progress=False)
    G.generate(sp, no, 12000, f"{tmp_path / 'c'}/", compat=True, progress=False)
    assert _shard_bytes(tmp_path / "c") == (tmp_path / "c.f32").read_bytes()
    assert len(list((tmp_path / "c").glob("shard-*.f32"))) == 3


def test_killed_sharded_run_resumes_with_the_missing_shards(tmp_path, audio, monkeypatch):
    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", 600)
    G.generate(sp, no, 2200, tmp_path / "m.f32", seed=2, progress=False)
    real = G.shard_rows
    made: list[int] = []

    def killed_at_2(seed, index, rows, *sources):
        if index == 2:
            raise KeyboardInterrupt
        made.append(index)
        return real(seed, index, rows, *sources)

    monkeypatch.setattr(G, "shard_rows", killed_at_2)
    folder = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):
        G.generate(sp, no, 2200, f"{folder}/", seed=2, progress=False)
    assert sorted(p.name for p in folder.glob("shard-*.f32")) == ["shard-00000.f32",
                                                                   "shard-00001.f32"]
    assert not (folder / INDEX_NAME).exists()
    with pytest.raises(InputError, match="has no index.json"):
        MatrixReader(folder)

    def counted(seed, index, rows, *sources):
        made.append(index)
        return real(seed, index, rows, *sources)

    made.clear()
    monkeypatch.setattr(G, "shard_rows", counted)
    res = G.generate(sp, no, 2200, f"{folder}/", seed=2, progress=False)
    assert made == [2, 3] and res.resumed_rows == 1200
    assert _shard_bytes(folder) == (tmp_path / "m.f32").read_bytes()

    # another seed is another dataset: nothing is kept
    made.clear()
    G.generate(sp, no, 2200, f"{folder}/", seed=3, progress=False)
    assert made == [0, 1, 2, 3]


def test_sharded_dataset_trains_to_the_same_weights(tmp_path, audio, monkeypatch):
    pytest.importorskip("torch")
    from rnnoise_kit.model.checkpoint import read_checkpoint
    from rnnoise_kit.training.trainer import TrainConfig, train

    sp, no = audio
    monkeypatch.setattr(G, "SHARD_ROWS", 2822)  # 150-frame windows straddle shard ends
    G.generate(sp, no, 6000, tmp_path / "m.f32", seed=1, progress=False)
    G.generate(sp, no, 6000, f"{tmp_path / 'm'}/", seed=1, progress=False)
    cfg = TrainConfig(epochs=1, window=150, batch_size=8, seed=0)
    one = train(tmp_path / "m.f32", tmp_path / "run1", config=cfg, device="cpu",
                progress=False)
    sharded = train(tmp_path / "m", tmp_path / "run2", config=cfg, device="cpu",
                    progress=False)
    assert sharded.loss == one.loss and sharded.val_loss == one.val_loss  # exact: same bytes
    w1, w2 = (read_checkpoint(r.run_dir).weights for r in (one, sharded))
    assert w1.keys() == w2.keys()
    for layer in w1:
        assert w1[layer].keys() == w2[layer].keys()
        for name in w1[layer]:
            assert np.array_equal(w1[layer][name], w2[layer][name]), (layer, name)
