"""``compare --against``: paired differences, their bootstrap intervals, and how the report
shows them (synthetic rows; the end-to-end runs are in test_evaluation_compare.py)."""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pytest

from rnnoise_kit.errors import SettingError
from rnnoise_kit.evaluation import report
from rnnoise_kit.evaluation.paired import paired_differences
from rnnoise_kit.evaluation.schema import PAIRED, Metric


def _rows(values: dict[str, dict[str, list]], set_name: str | None = None) -> list[dict]:
    """Rows of ``compare``: ``values[label][metric]`` lists one value per file f000, f001..."""
    rows = []
    n = max(len(v) for per in values.values() for v in per.values())
    for i in range(n):
        for label, per in values.items():
            row = {"model": label, "file": f"f{i:03d}"}
            if set_name is not None:
                row["set"] = set_name
            for metric, vals in per.items():
                if i < len(vals):
                    row[metric] = vals[i]
            rows.append(row)
    return rows


def test_better_on_every_file_by_a_known_amount():
    base = np.random.default_rng(3).uniform(1.5, 3.5, 30)
    wobble = np.tile([0.1, -0.1], 15)  # sums to zero: the mean difference is exactly 0.25
    rows = _rows({"noisy": {"pesq": list(base - 0.5)},
                  "std": {"pesq": list(base), "x_realtime": [50.0] * 30},
                  "new": {"pesq": list(base + 0.25 + wobble), "x_realtime": [90.0] * 30}})
    out = paired_differences(rows, ["noisy", "std", "new"], "std")
    assert (out["against"], out["confidence"], out["resamples"]) == ("std", 0.95, 10_000)
    assert list(out["sets"]) == ["test"]
    assert list(out["sets"]["test"]) == ["noisy", "new"]  # the reference is not compared
    new = out["sets"]["test"]["new"]
    assert set(new) == set(PAIRED)  # neither x_realtime (speed) nor vad_mean (no direction)
    pesq = new["pesq"]
    assert pesq["n"] == 30 and pesq["mean"] == pytest.approx(0.25, abs=1e-12)
    # a resample's mean is 0.25 + 0.1 (2k/30 - 1), k ~ Binomial(30, 1/2) the draws of +0.1;
    # its 2.5th and 97.5th percentiles are k = 10 and k = 20 (P(k <= 9) = 0.021,
    # P(k <= 10) = 0.049): far from the 0.025 mark for 10 000 resamples
    assert pesq["ci"] == pytest.approx([0.25 - 0.1 / 3, 0.25 + 0.1 / 3], abs=1e-9)
    assert pesq["wins"] == 1.0
    noisy = out["sets"]["test"]["noisy"]["pesq"]
    assert noisy["mean"] == pytest.approx(-0.5) and noisy["wins"] == 0.0
    assert noisy["ci"] == pytest.approx([-0.5, -0.5])
    # metrics without values: no pairs, JSON-ready Nones
    assert new["stoi"] == {"n": 0, "mean": None, "ci": None, "wins": None}
    json.dumps(out, allow_nan=False)


def test_mixed_signs_give_an_interval_around_zero():
    rng = np.random.default_rng(5)
    base = rng.uniform(2.0, 3.0, 40)
    d = rng.standard_normal(40)
    d -= d.mean() - 0.01  # mean 0.01, spread 1: far from telling the rows apart
    out = paired_differences(_rows({"a": {"dnsmos_ovrl": list(base)},
                                    "b": {"dnsmos_ovrl": list(base + d)}}), ["a", "b"], "a")
    e = out["sets"]["test"]["b"]["dnsmos_ovrl"]
    assert e["mean"] == pytest.approx(0.01)
    assert e["ci"][0] < 0 < e["ci"][1]
    assert e["wins"] == pytest.approx(np.mean(d > 0))
    assert 0.2 < e["wins"] < 0.8


def test_interval_matches_the_normal_theory_for_many_files():
    """Percentile bootstrap of a mean: close to mean +- 1.96 sd / sqrt(n) for n = 400."""
    d = np.random.default_rng(11).normal(0.3, 1.0, 400)
    out = paired_differences(_rows({"a": {"pesq": [0.0] * 400}, "b": {"pesq": list(d)}}),
                             ["a", "b"], "a")
    low, high = out["sets"]["test"]["b"]["pesq"]["ci"]
    half = 1.96 * d.std(ddof=1) / math.sqrt(d.size)
    assert low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(d.mean() + half, abs=0.1 * half)
    narrow = paired_differences(_rows({"a": {"pesq": [0.0] * 400}, "b": {"pesq": list(d)}}),
                                ["a", "b"], "a", confidence=0.5)
    n_low, n_high = narrow["sets"]["test"]["b"]["pesq"]["ci"]
    assert low < n_low < d.mean() < n_high < high


def test_direction_decides_wins():
    """Higher-is-better metric with the row worse; a lower-is-better metric with it lower;
    ties count half."""
    rows = _rows({"ref": {"pesq": [2.0, 2.0, 2.0, 2.0], "lag": [10.0, 10.0, 10.0, 10.0]},
                  "m": {"pesq": [1.5, 1.9, 2.0, 1.0], "lag": [5.0, 9.0, 10.0, 12.0]}})
    out = paired_differences(rows, ["ref", "m"], "ref")["sets"]["test"]["m"]
    assert out["pesq"]["mean"] == pytest.approx(-0.4)
    assert out["pesq"]["wins"] == pytest.approx(0.5 / 4)  # worse on 3, tied on 1
    lag = Metric("lag", "lag", "ms", higher_is_better=False)
    out = paired_differences(rows, ["ref", "m"], "ref", metrics=[lag])["sets"]["test"]["m"]
    assert list(out) == ["lag"]
    assert out["lag"]["mean"] == pytest.approx(-1.0)
    assert out["lag"]["wins"] == pytest.approx(2.5 / 4)  # lower on 2, tied on 1, higher on 1
    with pytest.raises(SettingError, match="vad_mean, which has no better direction"):
        paired_differences(rows, ["ref", "m"], "ref",
                           metrics=[Metric("vad_mean", "VAD", higher_is_better=None)])


def test_missing_and_non_finite_values_are_left_out_of_the_pairs():
    ref = [1.0, 1.0, math.nan, 1.0, 1.0, None, 1.0, 1.0]
    mine = [2.0, math.inf, 2.0, "", 1.5, 2.0, 3.0]  # f007 missing altogether
    out = paired_differences(_rows({"ref": {"pesq": ref}, "m": {"pesq": mine}}),
                             ["ref", "m"], "ref")["sets"]["test"]["m"]["pesq"]
    # pairs: f000 (+1.0), f004 (+0.5), f006 (+2.0)
    assert out["n"] == 3 and out["mean"] == pytest.approx(3.5 / 3)
    assert 0.5 <= out["ci"][0] <= out["ci"][1] <= 2.0


def test_files_pair_within_their_set():
    """Files are paired by name within a set; a set of its own is compared on its own."""
    rows = (_rows({"ref": {"dnsmos_ovrl": [3.0, 3.0]}, "m": {"dnsmos_ovrl": [3.5, 3.5]}})
            + _rows({"ref": {"dnsmos_ovrl": [3.0, 3.0]}, "m": {"dnsmos_ovrl": [2.0, 2.0]}},
                    set_name="real"))
    out = paired_differences(rows, ["ref", "m"], "ref")["sets"]
    assert list(out) == ["test", "real"]
    assert out["test"]["m"]["dnsmos_ovrl"]["mean"] == pytest.approx(0.5)
    assert out["real"]["m"]["dnsmos_ovrl"]["mean"] == pytest.approx(-1.0)
    assert out["real"]["m"]["pesq"]["n"] == 0


def test_same_seed_same_intervals():
    rng = np.random.default_rng(2)
    values = {lab: {m: list(rng.normal(size=25)) for m in PAIRED} for lab in ("a", "b", "c")}
    rows = _rows(values)
    first = paired_differences(rows, ["a", "b", "c"], "a", seed=7)
    assert paired_differences(rows, ["a", "b", "c"], "a", seed=7) == first
    other = paired_differences(rows, ["a", "b", "c"], "a", seed=8)
    assert other["sets"]["test"]["b"]["pesq"]["ci"] != first["sets"]["test"]["b"]["pesq"]["ci"]
    assert other["sets"]["test"]["b"]["pesq"]["mean"] == first["sets"]["test"]["b"]["pesq"]["mean"]
    # a row's intervals do not depend on which other rows are compared
    alone = paired_differences([r for r in rows if r["model"] != "c"], ["a", "b"], "a", seed=7)
    assert alone["sets"]["test"]["b"] == first["sets"]["test"]["b"]


def test_bad_settings():
    rows = _rows({"noisy": {"pesq": [1.0]}, "std": {"pesq": [2.0]}})
    with pytest.raises(SettingError, match=r"against must be one of the rows noisy, std "
                                           r"\(got 'sh'\)"):
        paired_differences(rows, ["noisy", "std"], "sh")
    with pytest.raises(SettingError, match="resamples must be at least 1"):
        paired_differences(rows, ["noisy", "std"], "std", resamples=0)
    with pytest.raises(SettingError, match="confidence must be between 0 and 1"):
        paired_differences(rows, ["noisy", "std"], "std", confidence=95)


def test_ten_thousand_resamples_of_hundreds_of_files_are_fast():
    rng = np.random.default_rng(0)
    values = {lab: {m: list(rng.normal(size=300)) for m in PAIRED} for lab in ("a", "b")}
    rows = _rows(values)
    t0 = time.perf_counter()
    paired_differences(rows, ["a", "b"], "a")
    assert time.perf_counter() - t0 < 1.0  # 8 metrics x 10 000 resamples of 300 files


# --------------------------------------------------------------------------- report


def _summary() -> tuple[dict, list[dict], list[str]]:
    rng = np.random.default_rng(4)
    base = rng.uniform(2, 3, 20)
    labels = ["noisy", "std", "new"]
    rows = _rows({"noisy": {"pesq": list(base - 0.3), "dnsmos_ovrl": list(base)},
                  "std": {"pesq": list(base), "dnsmos_ovrl": list(base)},
                  "new": {"pesq": list(base + 0.2 + rng.normal(0, 0.05, 20)),
                          "dnsmos_ovrl": list(base + rng.normal(0, 0.3, 20))}},
                 set_name="test")
    summary = report.summarize_sets(rows, labels)
    summary["paired"] = paired_differences(rows, labels, "std")
    return summary, rows, labels


def test_report_page_marks_intervals_that_exclude_zero():
    summary, rows, labels = _summary()
    page = report.render_html(summary, rows, labels, [], {}, [])
    assert "<h2>Against std: mean difference [95 % CI], share of files better</h2>" in page
    assert "95 % percentile bootstrap" in page
    table = page[page.index('<table class="paired">'):]
    table = table[:table.index("</table>")]
    heads = re.findall(r"<th>([^<]*)</th>", table)
    assert heads == ["model", "files", "PESQ-WB", "DNSMOS OVRL"]  # columns with pairs only
    cells = {label: re.findall(r"<td( class=\"\w+\")?>([^<]*)</td>", row)
             for row in table.split("<tr>")[2:]
             for label in re.findall(r"<td>([^<]*)</td>", row)[:1]}
    assert list(cells) == ["noisy", "new"]
    noisy_pesq, new_pesq, new_ovrl = cells["noisy"][2], cells["new"][2], cells["new"][3]
    assert noisy_pesq[0] == ' class="worse"' and noisy_pesq[1].startswith("-0.300 [")
    assert new_pesq[0] == ' class="better"' and new_pesq[1].endswith("100 %")
    assert new_ovrl[0] == ""  # 0.3 of noise on 20 files: the interval holds 0
    lo, hi = summary["paired"]["sets"]["test"]["new"]["dnsmos_ovrl"]["ci"]
    assert lo < 0 < hi


def test_console_tables_follow_the_means():
    from rich.console import Console

    summary, _, _ = _summary()
    tables = report.summary_tables(summary)
    assert len(tables) == 2
    console = Console(width=160, record=True, color_system=None)
    console.print(tables[1])
    text = console.export_text()
    assert "against std: mean difference [95 % CI]" in text
    new_pesq = next(line for line in text.splitlines() if "new" in line)
    assert "PESQ-WB" in new_pesq and "100 %" in new_pesq and "20" in new_pesq
    del summary["paired"]
    assert len(report.summary_tables(summary)) == 1


def test_verdict_follows_the_direction():
    assert report.paired_verdict("pesq", {"ci": [0.1, 0.2]}) == 1
    assert report.paired_verdict("pesq", {"ci": [-0.2, -0.1]}) == -1
    assert report.paired_verdict("pesq", {"ci": [-0.2, 0.1]}) == 0
    assert report.paired_verdict("pesq", {"n": 0, "ci": None}) == 0
    assert report.paired_cell("si_sdr", {"mean": 0.5, "ci": [0.25, 0.75], "wins": 0.6}) == (
        "+0.50", "[+0.25, +0.75]", "60 %")
