"""Reference statistics: quantile bin edges, right-closed bin shares, sample, class shares.

Every expected value here is worked out by hand from the documented rules, never taken
from the module's own output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from petalflow.core import reference


@pytest.mark.parametrize(
    ("values", "n_bins", "edges"),
    [
        # 1..11: the q-quantile (linear interpolation) is 1 + 10 q, so deciles 2..10.
        (np.arange(1.0, 12.0), 10, [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
        # 1..5 in quarters: quantiles at positions 1, 2, 3.
        (np.arange(1.0, 6.0), 4, [2.0, 3.0, 4.0]),
        # 50 zeros and 50 ones: deciles 0, 0, 0, 0, 0.5 (position 49.5), 1, 1, 1, 1 -> merged.
        (np.repeat([0.0, 1.0], 50), 10, [0.0, 0.5, 1.0]),
        # A constant feature has one inner edge and two bins.
        (np.full(7, 3.5), 10, [3.5]),
        # Two bins: the median alone.
        (np.array([4.0, 1.0, 3.0, 2.0]), 2, [2.5]),
    ],
)
def test_bin_edges_are_merged_inner_quantiles(
    values: np.ndarray, n_bins: int, edges: list[float]
) -> None:
    result = reference.bin_edges(values, n_bins)
    assert result == pytest.approx(edges, rel=1e-12)
    assert len(result) == len(edges)
    assert all(type(edge) is float for edge in result)


def test_bin_edges_default_to_ten_bins() -> None:
    assert reference.N_BINS == 10
    assert reference.bin_edges(np.arange(1.0, 12.0)) == pytest.approx(list(range(2, 11)), rel=1e-12)


@pytest.mark.parametrize(
    ("values", "fractions"),
    [
        # Right-closed bins (-inf, 1], (1, 2], (2, 3], (3, inf): a value on an edge
        # belongs to the bin that edge closes, the one below it.
        ([1.0, 2.0, 3.0, 0.5, 3.5], [0.4, 0.2, 0.2, 0.2]),
        ([2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 0.0, 0.0]),
        ([1.0], [1.0, 0.0, 0.0, 0.0]),
        ([3.0, 3.0, 1.5, 9.0], [0.0, 0.25, 0.5, 0.25]),
        # Just above an edge opens the next bin.
        ([1.0000001, 2.0000001, 3.0000001, 3.0], [0.0, 0.25, 0.5, 0.25]),
        ([-5.0, 0.0, 1.0, 1.5, 2.5], [0.6, 0.2, 0.2, 0.0]),
    ],
)
def test_bin_fractions_puts_values_on_an_edge_in_the_lower_bin(
    values: list[float], fractions: list[float]
) -> None:
    result = reference.bin_fractions(np.asarray(values), [1.0, 2.0, 3.0])
    assert result == pytest.approx(fractions, abs=1e-15)
    assert len(result) == 4


@pytest.mark.parametrize(
    ("values", "edges", "fractions"),
    [
        ([], [1.0, 2.0], [0.0, 0.0, 0.0]),
        ([7.0, 8.0], [], [1.0]),
        ([0.0, 0.0, 0.0], [0.0], [1.0, 0.0]),
        ([5.0, 5.0, 5.0, 5.0, 5.0], [1.0, 2.0], [0.0, 0.0, 1.0]),
    ],
)
def test_bin_fractions_edge_cases(
    values: list[float], edges: list[float], fractions: list[float]
) -> None:
    result = reference.bin_fractions(np.asarray(values, dtype=float), edges)
    assert result == fractions
    assert all(type(share) is float for share in result)


def test_reference_stats_hand_computed_small_table() -> None:
    # Column "a": 1..11 shuffled; column "b": 50 zeros and 50 ones is too long, so a
    # short table whose deciles are worked out by hand: b = 0,0,0,0,0,0,1,1,1,1,1 (n = 11,
    # position 10 q: deciles at 1..9 -> 0,0,0,0,0,1,1,1,1).
    a = [6.0, 1.0, 11.0, 3.0, 9.0, 2.0, 10.0, 4.0, 8.0, 5.0, 7.0]
    b = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    X = pd.DataFrame({"a": a, "b": b})
    y = pd.Series([2, 1, 1, 2, 2, 2, 1, 1, 1, 1, 3])
    stats = reference.reference_stats(X, y)

    assert set(stats) == {"n_samples", "features", "class_distribution"}
    assert stats["n_samples"] == 11
    # Classes as strings, sorted: 6 ones, 4 twos, 1 three.
    assert stats["class_distribution"] == {"1": 6 / 11, "2": 4 / 11, "3": 1 / 11}
    assert list(stats["class_distribution"]) == ["1", "2", "3"]

    fa = stats["features"]["a"]
    assert set(fa) == {"bin_edges", "bin_fractions", "mean", "std", "sample"}
    assert fa["bin_edges"] == pytest.approx([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    # (-inf,2] holds 1 and 2; each inner bin one value; (10, inf) holds 11.
    assert fa["bin_fractions"] == pytest.approx([2 / 11] + [1 / 11] * 8 + [1 / 11])
    assert fa["mean"] == pytest.approx(6.0)
    assert fa["std"] == pytest.approx(np.sqrt(10.0))  # population std of 1..11 (ddof=0)
    assert fa["sample"] == [float(v) for v in range(1, 12)]  # sorted copy

    fb = stats["features"]["b"]
    # 6 zeros, 5 ones: positions 1..9 of the sorted column -> 0 x5, 1 x4; merged.
    assert fb["bin_edges"] == [0.0, 1.0]
    assert fb["bin_fractions"] == pytest.approx([6 / 11, 5 / 11, 0.0])
    assert fb["mean"] == pytest.approx(5 / 11)
    assert fb["std"] == pytest.approx(np.sqrt(5 / 11 * 6 / 11))
    assert fb["sample"] == [0.0] * 6 + [1.0] * 5


def test_reference_stats_keeps_every_value_up_to_max_sample() -> None:
    assert reference.MAX_SAMPLE == 1000
    values = np.arange(1000.0)[::-1]
    stats = reference.reference_stats(pd.DataFrame({"x": values}), pd.Series(["c"] * 1000))
    assert stats["features"]["x"]["sample"] == [float(v) for v in range(1000)]
    assert stats["class_distribution"] == {"c": 1.0}


def test_reference_stats_thins_a_long_column_to_max_sample_quantiles() -> None:
    # 0..1998 (1,999 values): the 1,000 evenly spaced quantiles fall on every other value.
    values = np.arange(1999.0)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.permutation(values)})
    stats = reference.reference_stats(X, pd.Series(["c"] * 1999))
    sample = stats["features"]["x"]["sample"]
    assert len(sample) == 1000
    assert sample == pytest.approx([2.0 * i for i in range(1000)])
    # Bins and moments still come from every value, not the thinned sample.
    assert stats["features"]["x"]["mean"] == pytest.approx(999.0)
    assert stats["features"]["x"]["bin_fractions"] == pytest.approx([0.1] * 10, abs=1e-3)
    assert stats["n_samples"] == 1999


def test_reference_stats_treats_a_boolean_feature_as_zero_and_one() -> None:
    # Sorted 0, 0, 1, 1, 1 (n = 5, position 4 q): deciles at 0.4, 0.8, 1.2, ..., 3.6 ->
    # 0, 0, 0.2, 0.6, 1, 1, 1, 1, 1 -> merged edges 0, 0.2, 0.6, 1.
    X = pd.DataFrame({"flag": [True, False, True, True, False]})
    stats = reference.reference_stats(X, pd.Series(["a"] * 5))
    flag = stats["features"]["flag"]
    assert flag["bin_edges"] == pytest.approx([0.0, 0.2, 0.6, 1.0])
    assert flag["bin_fractions"] == pytest.approx([0.4, 0.0, 0.0, 0.6, 0.0])
    assert flag["sample"] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert flag["mean"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("values", "fractions"),
    [
        ([0.5, 1.0, 1.0, 2.0, 3.0, 3.5], [0.5, 1 / 6, 1 / 6, 1 / 6]),
        ([1.0000001, 2.0000001, 3.0, 3.0000001], [0.0, 0.25, 0.5, 0.25]),
        ([], [0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_sorted_bin_fractions_of_sorted_values_are_the_right_closed_shares(
    values: list[float], fractions: list[float]
) -> None:
    # Edges 1, 2, 3: bins (-inf, 1], (1, 2], (2, 3], (3, inf), counted by hand.
    result = reference.sorted_bin_fractions(np.asarray(values, dtype=float), [1.0, 2.0, 3.0])
    assert result == pytest.approx(fractions, abs=1e-15)
    assert result == reference.bin_fractions(np.asarray(values[::-1], dtype=float), [1.0, 2.0, 3.0])


def test_reference_stats_missing_rate_is_the_exact_share_of_gaps() -> None:
    # 2 gaps in 275 rows: 2 / 275 exactly, not 1 - 273 / 275 (which is off in the last bits).
    values = np.arange(275.0)
    values[[3, 100]] = np.nan
    stats = reference.reference_stats(pd.DataFrame({"x": values}), pd.Series(["c"] * 275))
    x = stats["features"]["x"]
    assert x["missing_rate"] == 2 / 275
    assert 1 - 273 / 275 != 2 / 275  # the case this test is about
    # Bins, moments and sample come from the 273 present values.
    assert len(x["sample"]) == 273 and not np.isnan(x["sample"]).any()
    assert x["mean"] == pytest.approx((sum(range(275)) - 3 - 100) / 273)
    assert sum(x["bin_fractions"]) == pytest.approx(1.0)


def test_reference_stats_numeric_column_without_gaps_has_no_missing_rate() -> None:
    stats = reference.reference_stats(pd.DataFrame({"x": [1.0, 2.0]}), pd.Series(["a", "b"]))
    assert "missing_rate" not in stats["features"]["x"]


def test_reference_stats_category_shares_are_of_all_rows_with_the_missing_rate() -> None:
    column = pd.Series(["b", "a", None, "a"], dtype=object)
    stats = reference.reference_stats(pd.DataFrame({"c": column}), pd.Series(["y"] * 4))
    assert stats["features"]["c"] == {
        "category_fractions": {"a": 0.5, "b": 0.25},
        "missing_rate": 0.25,
    }
