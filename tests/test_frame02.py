"""The fused 0.2 frame (``rnnoise_kit._frame02``): one compiled call per streaming chunk gives
the block path's bits, and hands over to it (and back) mid-stream.

Small generated 0.2 models; exactness of the whole flow against C is in
``test_reference_v02_denoise.py`` (its 10 ms streaming test runs this path).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnoise_kit._frame02 import MAX_FUSED_FRAMES, fusable, process_frames_fused
from rnnoise_kit.denoise import ChannelState02, FrameProcessor02
from rnnoise_kit.model.v02 import TAG_HEADS, random_model

FRAME = 480


def _signal(frames: int, seed: int = 0) -> np.ndarray:
    """int16-scale noise and a tone, with a digitally silent stretch (the network skipped)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames * FRAME) / 48000
    x = 8000 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    x += 600 * rng.standard_normal(x.size)
    x[10 * FRAME : 34 * FRAME] = 0  # silent once the high-pass has rung out
    return x.astype(np.float32)


def _block_reference(proc: FrameProcessor02, x: np.ndarray, floor: float):
    """The whole signal through the block path in one call (more frames than fused calls take)."""
    assert x.size > MAX_FUSED_FRAMES * FRAME
    return proc.process(x, ChannelState02(), floor)


MODELS = {
    "float": random_model(5),
    "int8": random_model(6, float_twins=False),
    "tag heads": random_model(7, variant=TAG_HEADS),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("floor", [0.0, 0.25])
@pytest.mark.parametrize("frames_per_call", [1, 2, 3])
def test_fused_equals_block_path(name, floor, frames_per_call):
    proc = FrameProcessor02(MODELS[name])
    x = _signal(45)
    want, want_vad = _block_reference(proc, x, floor)
    st = ChannelState02()
    outs, vads = [], []
    for i in range(0, x.size, frames_per_call * FRAME):
        chunk = np.ascontiguousarray(x[i : i + frames_per_call * FRAME])
        assert fusable(proc.net, chunk, st)
        out, vad = process_frames_fused(proc.net, chunk, st, floor)
        outs.append(out)
        vads.append(vad)
    np.testing.assert_array_equal(np.concatenate(outs), want)
    np.testing.assert_array_equal(np.concatenate(vads), want_vad)
    assert (want_vad[25:34] == 0).all()  # silent frames: the network is not run
    assert (want_vad[:10] > 0).all()


def test_paths_hand_over_mid_stream():
    """Fused, block, fused again on one state: the state each leaves is the other's."""
    proc = FrameProcessor02(MODELS["float"])
    x = _signal(40, seed=1)
    want, want_vad = _block_reference(proc, x, 0.0)
    st = ChannelState02()
    outs, vads, taken = [], [], []
    i = 0
    for frames in (1, 2, 7, 1, 3, 12, 1, 1, 4, 8):
        chunk = x[i : i + frames * FRAME]
        taken.append(fusable(proc.net, chunk, st))
        out, vad = proc.process(chunk, st)
        outs.append(out)
        vads.append(vad)
        i += frames * FRAME
    assert i == x.size
    assert taken == [True, True, False, True, True, False, True, True, False, False]
    np.testing.assert_array_equal(np.concatenate(outs), want)
    np.testing.assert_array_equal(np.concatenate(vads), want_vad)


def test_what_the_fused_call_does_not_take():
    proc = FrameProcessor02(MODELS["float"])
    st = ChannelState02()
    x = _signal(4)
    assert fusable(proc.net, x[:FRAME], st)
    assert not fusable(proc.net, x, st)                          # 4 frames: the block path
    assert not fusable(proc.net, x[:FRAME].astype(np.float64), st)
    assert not fusable(proc.net, x[:FRAME + 1], st)              # not whole frames
    assert not fusable(proc.net, x[: 2 * FRAME : 2], st)         # not contiguous
    st.postfilter.lastg = np.zeros(64, np.float32)[::2]          # a strided state array
    assert not fusable(proc.net, x[:FRAME], st)
    st.postfilter.lastg = np.zeros(32, np.float32)
    st.rnn = FrameProcessor02(random_model(5, gru_size=8)).net.new_state()  # another model's
    assert not fusable(proc.net, x[:FRAME], st)


def test_an_unusual_state_goes_through_the_block_path_unchanged():
    """A state array the kernels cannot update in place is normalised by the block path, so
    the result is still the block path's."""
    proc = FrameProcessor02(MODELS["float"])
    x = _signal(20, seed=2)
    want, _ = _block_reference(proc, x, 0.0)
    st = ChannelState02()
    st.postfilter.lastg = np.zeros(64, np.float32)[::2]
    outs = [proc.process(x[i : i + FRAME], st)[0]
            for i in range(0, x.size, FRAME)]
    np.testing.assert_array_equal(np.concatenate(outs), want)
