"""``rnnoise_kit.dsp.strength``: the attenuation floor and FFmpeg ``arnndn``'s dry/wet mix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnoise_kit.dsp.strength import (
    attenuation_floor,
    floor_gains,
    is_valid_attenuation,
    is_valid_mix,
    mix_dry_wet,
)


@pytest.mark.parametrize("db", [0.0, 3.0, 6.0, 12.0, 40.0, 120.0])
def test_floor_is_the_amplitude_of_minus_db(db):
    floor = attenuation_floor(db)
    # float32 rounding of the floor: 2^-24 relative
    assert floor == pytest.approx(10 ** (-db / 20), rel=2**-23)
    assert 20 * math.log10(floor) == pytest.approx(-db, abs=1e-5)


def test_no_limit_is_a_zero_floor_that_leaves_gains_alone():
    g = np.random.default_rng(0).uniform(0, 1, (5, 22)).astype(np.float32)
    assert attenuation_floor(None) == 0.0
    assert floor_gains(g, 0.0) is g


def test_floor_gains_raises_only_the_gains_below():
    rng = np.random.default_rng(1)
    g = rng.uniform(0, 1, (50, 22)).astype(np.float32)
    g[0, :3] = [0.0, 1.0, 0.25]
    f = attenuation_floor(12.0)
    got = floor_gains(g, f)
    assert got.dtype == np.float32 and got.shape == g.shape
    assert (got >= np.float32(f)).all()
    keep = g >= np.float32(f)
    np.testing.assert_array_equal(got[keep], g[keep])  # same bits where above the floor
    assert (got[~keep] == np.float32(f)).all() and (~keep).any()
    assert g[0, 0] == 0.0  # the input is not modified


@pytest.mark.parametrize(("value", "ok"), [(None, True), (0, True), (12.5, True), (-1, False),
                                          (math.inf, False), (math.nan, False), ("x", False)])
def test_attenuation_validity(value, ok):
    assert is_valid_attenuation(value) is ok


@pytest.mark.parametrize(("value", "ok"), [(-1, True), (0, True), (0.5, True), (1, True),
                                          (1.01, False), (-1.5, False), (math.nan, False)])
def test_mix_validity(value, ok):
    assert is_valid_mix(value) is ok


def test_mix_is_ffmpegs_formula_in_float32():
    """``out * mix + src * (1 - max(mix, 0))`` of af_arnndn.c's frame_synthesis, in float."""
    rng = np.random.default_rng(2)
    wet = (rng.standard_normal(4800) * 3000).astype(np.float32)
    dry = (rng.standard_normal(4800) * 3000).astype(np.float32)
    for mix in (1.0, 0.5, 0.3, 0.0, -0.25, -1.0):
        m = np.float32(mix)
        im = np.float32(1) - np.float32(max(mix, 0.0))
        want = np.array([w * m + d * im for w, d in zip(wet.tolist(), dry.tolist(), strict=True)],
                        dtype=np.float64)
        # the reference above is float64 arithmetic on float32 values; each product and the
        # sum then round once to float32, which is at most 1.5 ulp apart from the float64 value
        got = mix_dry_wet(wet, dry, mix)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=np.abs(want).max() * 2**-22)
    np.testing.assert_array_equal(mix_dry_wet(wet, dry, 1.0), wet)
    np.testing.assert_array_equal(mix_dry_wet(wet, dry, 0.0), dry)
    np.testing.assert_array_equal(mix_dry_wet(wet, dry, -1.0), dry - wet)
