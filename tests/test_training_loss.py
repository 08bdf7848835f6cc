"""Losses of rnn_train.py (spec 13) and a tiny end-to-end training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnoise_kit.training.loss import (  # noqa: E402
    binary_crossentropy,
    gain_loss,
    msse,
    rnnoise_loss,
    vad_loss,
)
from rnnoise_kit.training.network import RNNoiseNet  # noqa: E402

EPS = 1e-7


def _data(seed=0, shape=(4, 50)):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, size=(*shape, 22))
    t = rng.uniform(0.0, 1.0, size=(*shape, 22))
    t[rng.random(t.shape) < 0.25] = -1.0
    t[..., 0] = 0.0
    t[..., 1] = 1.0
    vp = rng.uniform(0.0, 1.0, size=(*shape, 1))
    vt = rng.choice([0.0, 0.5, 1.0], size=(*shape, 1))
    return p, t, vp, vt


def _np_bce(p, t, mode):
    if mode == "swapped":
        c = np.clip(t, EPS, 1 - EPS)
        return -(p * np.log(c) + (1 - p) * np.log(1 - c))
    c = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(c) + (1 - t) * np.log(1 - c))


def _np_gain_cost(p, t, mode):
    """Element-wise masked ``mycost``."""
    m = np.minimum(t + 1, 1)
    d = np.sqrt(p) - np.sqrt(np.maximum(t, 0))
    return m * (10 * d**4 + d**2 + 0.01 * _np_bce(p, t, mode))


def _np_losses(p, t, vp, vt, mode):
    gain = np.mean(_np_gain_cost(p, t, mode))
    vad = np.mean(2 * np.abs(vt - 0.5) * _np_bce(vp, vt, mode))
    return gain, vad


@pytest.mark.parametrize("mode", ["swapped", "textbook"])
def test_matches_numpy_formula(mode):
    p, t, vp, vt = _data()
    gain, vad = _np_losses(p, t, vp, vt, mode)
    parts = rnnoise_loss(*(torch.tensor(a) for a in (p, t, vp, vt)), bce=mode)
    assert abs(float(parts.gain) - gain) < 1e-12 * max(1, gain)
    assert abs(float(parts.vad) - vad) < 1e-12 * max(1, vad)
    assert abs(float(parts.total) - (10 * gain + 0.5 * vad)) < 1e-11
    assert float(gain_loss(torch.tensor(p), torch.tensor(t), mode)) == pytest.approx(gain)
    assert float(vad_loss(torch.tensor(vp), torch.tensor(vt), mode)) == pytest.approx(vad)


def test_swapped_vs_textbook_bce():
    p = torch.tensor([0.2, 0.9, 0.5, 0.7], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 1.0, 0.3], dtype=torch.float64)
    sw = binary_crossentropy(p, t, "swapped")
    tb = binary_crossentropy(p, t, "textbook")
    # swapped: the clipped target is the probability -> ~16.1 |p - t| for t in {0, 1}
    assert float(sw[0]) == pytest.approx(-0.8 * np.log(1 - EPS) - 0.2 * np.log(EPS), rel=1e-5)
    assert float(sw[2]) == pytest.approx(16.118 * 0.5, rel=1e-3)
    assert float(tb[0]) == pytest.approx(-np.log(0.8), rel=1e-6)
    assert float(tb[1]) == pytest.approx(-np.log(0.9), rel=1e-6)
    assert not torch.allclose(sw, tb)
    # they agree when prediction and target are swapped (both unclipped)
    assert torch.allclose(binary_crossentropy(t[3:], p[3:], "swapped"), tb[3:], rtol=1e-6)
    with pytest.raises(ValueError):
        binary_crossentropy(p, t, "bogus")


@pytest.mark.parametrize("mode", ["swapped", "textbook"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_targets_no_nan(mode, dtype):
    p, t, vp, vt = _data(1)
    p[0, 0, :] = 0.0  # exact zero predictions (sigmoid underflow) must not give NaN either
    p[0, 1, :] = 1.0
    t[:, :, 2:] = -1.0
    gains = torch.tensor(p, dtype=dtype, requires_grad=True)
    vad = torch.tensor(vp, dtype=dtype, requires_grad=True)
    parts = rnnoise_loss(
        gains, torch.tensor(t, dtype=dtype), vad, torch.tensor(vt, dtype=dtype), bce=mode
    )
    parts.total.backward()
    assert torch.isfinite(parts.total)
    assert torch.isfinite(gains.grad).all() and torch.isfinite(vad.grad).all()
    # masked entries contribute no gradient
    assert float(gains.grad[..., 2:].abs().max()) == 0.0
    assert torch.isfinite(msse(gains, torch.tensor(t, dtype=dtype)))


def test_all_masked_gain_loss_is_zero():
    t = -torch.ones(2, 3, 22)
    assert float(gain_loss(torch.full_like(t, 0.3), t)) == 0.0


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_few_adam_steps_lower_the_loss(backend):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    b, t = 4, 60
    x = torch.tensor(rng.standard_normal((b, t, 42)), dtype=torch.float32)
    g = rng.uniform(0, 1, (b, t, 22))
    g[rng.random(g.shape) < 0.2] = -1
    y = torch.tensor(g, dtype=torch.float32)
    v = torch.tensor(rng.choice([0.0, 0.5, 1.0], (b, t, 1)), dtype=torch.float32)
    net = RNNoiseNet(backend=backend)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, eps=1e-7)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        gains, vad = net(x)
        loss = rnnoise_loss(gains, y, vad, v).total + net.regularization_loss()
        loss.backward()
        opt.step()
        net.clip_weights_(0.499)
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.parametrize("mode", ["swapped", "textbook"])
def test_fused_gain_loss_matches_autograd(mode):
    from rnnoise_kit.training.loss import _gain_cost

    p, t, _, _ = _data(2)
    p[0, 0, :] = 0.0
    p[0, 1, :3] = (1.0, 0.5e-7, 1.0 - 0.5e-7)
    a = torch.tensor(p, requires_grad=True)
    b = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t)
    fused = gain_loss(a, tt, mode)
    ref = _gain_cost(b, tt, mode).mean()
    (ga,) = torch.autograd.grad(fused * 3, a)
    (gb,) = torch.autograd.grad(ref * 3, b)
    assert float(fused.detach()) == pytest.approx(float(ref.detach()), rel=1e-13)
    assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("mode", ["swapped", "textbook"])
def test_undershoot_weighs_only_predictions_below_target(mode):
    from rnnoise_kit.training.loss import _gain_cost

    p, t, _, _ = _data(3)
    u = 2.5
    expected = np.mean(_np_gain_cost(p, t, mode) * np.where(p < t, 1 + u, 1.0))
    a = torch.tensor(p, requires_grad=True)
    b = torch.tensor(p, requires_grad=True)
    tt = torch.tensor(t)
    fused = gain_loss(a, tt, mode, undershoot=u)
    ref = _gain_cost(b, tt, mode, undershoot=u).mean()
    assert float(fused.detach()) == pytest.approx(expected, rel=1e-12)
    assert float(ref.detach()) == pytest.approx(expected, rel=1e-12)
    (ga,) = torch.autograd.grad(fused, a)
    (gb,) = torch.autograd.grad(ref, b)
    assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-18)
    # the extra weight is what makes it differ from the plain loss
    assert float(fused.detach()) > float(gain_loss(torch.tensor(p), tt, mode).detach())
