"""Drift per column type: categories (PSI with an unseen bucket, chi-square test of
homogeneity), bools, the missing-rate shift, numbers with gaps, the fast KS path.

Expected values are worked out by hand or by calling scipy directly on hand-made counts,
never taken from the module's own output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from petalflow.core.contract import FeatureSpec
from petalflow.monitoring import drift
from petalflow.monitoring.drift import category_columns, missing_values, numeric_columns

NAN = math.nan


def category(name: str, categories: list[str], nullable: bool = False) -> FeatureSpec:
    return FeatureSpec(name=name, type="category", categories=categories, nullable=nullable)


# --- live counts and reference shares ---------------------------------------------------


def test_live_counts_per_category_index_then_unseen_leaving_gaps_out() -> None:
    # Three categories: indexes 0, 1, 2. NaN is a gap (not counted); 5, -1 and 1.5 are no
    # category's index: the unseen bucket.
    values = np.array([0, 1, 1, 2, NAN, 5, -1, 1.5, 2, NAN])
    counts = category_columns.live_counts(values, 3)
    assert counts.tolist() == [1.0, 2.0, 2.0, 3.0]


def test_reference_shares_renormalise_category_shares_over_present_values() -> None:
    # Shares of all rows: a 0.3, b 0.5, gaps 0.2 -> among present values a 0.375, b 0.625;
    # c is listed by the contract but was never seen; nothing is unseen.
    entry = {"category_fractions": {"a": 0.3, "b": 0.5}, "missing_rate": 0.2}
    shares = category_columns.reference_shares(entry, ["a", "b", "c"])
    assert shares.tolist() == pytest.approx([0.375, 0.625, 0.0, 0.0])


def test_reference_shares_put_categories_the_contract_lacks_in_the_unseen_bucket() -> None:
    entry = {"category_fractions": {"a": 0.25, "b": 0.5, "z": 0.25}, "missing_rate": 0.0}
    shares = category_columns.reference_shares(entry, ["a", "b"])
    assert shares.tolist() == pytest.approx([0.25, 0.5, 0.25])


def test_reference_shares_of_a_bool_come_from_the_mean_of_its_zeros_and_ones() -> None:
    shares = category_columns.reference_shares({"mean": 0.25}, ["false", "true"], is_bool=True)
    assert shares.tolist() == pytest.approx([0.75, 0.25, 0.0])


# --- PSI and the chi-square test of a category column ------------------------------------


def test_category_drift_hand_computed_psi_and_two_by_two_chi_square() -> None:
    # Reference 100 present values, half a, half b; live 80 a, 20 b, nothing unseen.
    # PSI = (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5).
    # Homogeneity table [[50, 50], [80, 20]]: column totals 130, 70, expected 65, 35 per
    # row: chi2 = 2 (15^2 / 65 + 15^2 / 35); 1 degree of freedom.
    result = category_columns.category_drift(
        np.array([0.5, 0.5, 0.0]), np.array([80.0, 20.0, 0.0]), ["a", "b"], 0.01, 100
    )
    chi2 = 2 * (15**2 / 65 + 15**2 / 35)
    assert result == {
        "psi": pytest.approx(0.3 * np.log(1.6) + 0.3 * np.log(2.5), rel=1e-12),
        "chi2_statistic": pytest.approx(chi2, rel=1e-12),
        "chi2_pvalue": pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-9),
        "chi2_significant": True,
        "live_distribution": {"a": 0.8, "b": 0.2},
        "reference_distribution": {"a": 0.5, "b": 0.5},
        "unseen_share": 0.0,
        "status": "alert",  # PSI 0.42 >= 0.25 and p ~ 9e-6
    }


def test_category_drift_unseen_bucket_counts_in_psi_and_test() -> None:
    # 10 % of the live values are no known category: their bucket has no reference share,
    # so PSI smooths it with 1e-4; the test sees a third column [0, 10].
    result = category_columns.category_drift(
        np.array([0.5, 0.5, 0.0]), np.array([45.0, 45.0, 10.0]), ["a", "b"], 0.01, 100
    )
    expected = np.array([0.5, 0.5, 1e-4]) / (1 + 1e-4)
    live = np.array([0.45, 0.45, 0.1])
    oracle = stats.chi2_contingency([[50, 50, 0], [45, 45, 10]], correction=False)
    assert result["psi"] == pytest.approx(
        float(np.sum((live - expected) * np.log(live / expected)))
    )
    assert result["chi2_statistic"] == pytest.approx(oracle.statistic, rel=1e-12)
    assert result["chi2_pvalue"] == pytest.approx(oracle.pvalue, rel=1e-9)
    assert result["unseen_share"] == pytest.approx(0.1)
    assert result["live_distribution"] == {"a": 0.45, "b": 0.45}
    # PSI ~ 0.70 (the unseen bucket alone adds 0.0999 ln 1000) and p ~ 0.005 < 0.01.
    assert result["chi2_pvalue"] < 0.01
    assert result["status"] == "alert"


def test_category_drift_buckets_neither_side_has_are_left_out() -> None:
    # c is listed but absent on both sides, nothing is unseen: the same counts as a
    # two-category table, whose p-value scipy computes with 1 degree of freedom.
    result = category_columns.category_drift(
        np.array([0.4, 0.6, 0.0, 0.0]), np.array([45.0, 55.0, 0.0, 0.0]), ["a", "b", "c"], 0.01, 200
    )
    oracle = stats.chi2_contingency([[80, 120], [45, 55]], correction=False)
    assert result["chi2_pvalue"] == pytest.approx(oracle.pvalue, rel=1e-9)
    assert result["psi"] == pytest.approx(0.05 * np.log(0.45 / 0.4) - 0.05 * np.log(0.55 / 0.6))
    assert result["reference_distribution"] == {"a": 0.4, "b": 0.6, "c": 0.0}


def test_category_drift_matching_shares_are_ok_with_p_one() -> None:
    result = category_columns.category_drift(
        np.array([0.25, 0.75, 0.0]), np.array([25.0, 75.0, 0.0]), ["a", "b"], 0.01, 400
    )
    assert result["psi"] == pytest.approx(0.0, abs=1e-15)
    assert result["chi2_statistic"] == pytest.approx(0.0, abs=1e-12)
    assert result["chi2_pvalue"] == pytest.approx(1.0)
    assert result["status"] == "ok"


@pytest.mark.parametrize(
    ("reference", "live"),
    [
        ([100.0, 0.0, 0.0], [50.0, 0.0, 0.0]),  # one bucket on both sides
        ([0.0, 0.0, 0.0], [20.0, 30.0, 0.0]),  # no reference size: no test
    ],
)
def test_homogeneity_test_with_nothing_to_test_is_p_one(
    reference: list[float], live: list[float]
) -> None:
    assert category_columns.homogeneity_test(np.array(reference), np.array(live)) == (0.0, 1.0)


def test_chi_square_is_two_sample_not_goodness_of_fit() -> None:
    # Reference 200 values (a 0.4, b 0.6), live 2,000 (a 0.45): a goodness-of-fit test
    # against 0.4 / 0.6 as if they were exact gives p ~ 4e-6, but the reference is a
    # sample of 200 itself; the two-sample test gives p ~ 0.17.
    result = category_columns.category_drift(
        np.array([0.4, 0.6, 0.0]), np.array([900.0, 1100.0, 0.0]), ["a", "b"], 0.01, 200
    )
    goodness_of_fit = stats.chisquare([900, 1100], [800, 1200]).pvalue
    assert goodness_of_fit < 1e-5
    assert result["chi2_pvalue"] == pytest.approx(
        stats.chi2_contingency([[80, 120], [900, 1100]], correction=False).pvalue, rel=1e-9
    )
    assert result["chi2_pvalue"] > 0.1


# --- the missing-rate test ----------------------------------------------------------------


def test_two_proportion_pvalue_is_the_n_minus_1_chi_square_for_ordinary_counts() -> None:
    # Smallest expected count 36 * 275 / 775 ~ 12.8 >= 1: Pearson's chi-square of the 2 x 2
    # table (scipy, no continuity correction) scaled by (N - 1) / N, 1 degree of freedom.
    table = [[11, 264], [25, 475]]
    pearson = stats.chi2_contingency(table, correction=False).statistic
    expected = stats.chi2.sf(pearson * 774 / 775, 1)
    result = missing_values.two_proportion_pvalue(11, 275, 25, 500)
    assert result == pytest.approx(expected, rel=1e-9)


def test_two_proportion_pvalue_is_fishers_exact_test_for_small_counts() -> None:
    # 0 of 20 against 3 of 120: smallest expected count 3 * 20 / 140 ~ 0.43 < 1. Fisher's
    # two-sided p by hand: the gaps in the first row follow a hypergeometric law (140
    # rows, 3 gaps, 20 drawn); p sums the tables no more likely than the observed one.
    def prob(j: int) -> float:
        return math.comb(3, j) * math.comb(137, 20 - j) / math.comb(140, 20)

    observed = prob(0)
    expected = sum(prob(j) for j in range(4) if prob(j) <= observed * (1 + 1e-7))
    assert missing_values.two_proportion_pvalue(0, 20, 3, 120) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(0, 275, 0, 500), (5, 5, 9, 9), (3, 0, 1, 5)])
def test_two_proportion_pvalue_without_anything_to_compare_is_one(
    k1: int, n1: int, k2: int, n2: int
) -> None:
    assert missing_values.two_proportion_pvalue(k1, n1, k2, n2) == 1.0


@pytest.mark.parametrize(
    ("gaps", "n", "size", "status"),
    [
        (20, 500, 275, "ok"),  # 4 % against 4 %
        (100, 500, 275, "alert"),  # 20 % against 4 %: +16 points, p ~ 1e-9
        (46, 500, 275, "warn"),  # 9.2 %: +5.2 points, not significant at 0.01 / 11
        (4_400, 100_000, 100_000, "warn"),  # 4.4 %: +0.4 points, significant
        (150, 500, 0, "warn"),  # +26 points but no reference size: no test
    ],
)
def test_missing_drift_status_by_shift_and_test(gaps: int, n: int, size: int, status: str) -> None:
    result = missing_values.missing_drift(gaps, n, 0.04, size, alpha=0.01 / 11)
    assert result["missing_status"] == status
    assert result["missing_rate"] == gaps / n
    assert result["reference_missing_rate"] == 0.04
    assert result["missing_rate_shift"] == pytest.approx(gaps / n - 0.04)
    assert result["missing_significant"] is (result["missing_pvalue"] < 0.01 / 11)


# --- whole columns in a report -----------------------------------------------------------

BOOL = FeatureSpec(name="flag", type="bool", nullable=True)
PLAN = category("plan", ["basic", "plus", "pro"], nullable=True)
SIZE = FeatureSpec(name="size", type="float", nullable=True)


def mixed_reference() -> dict[str, Any]:
    """A 1,000-row training split: plan basic 50 % / plus 30 % / pro 10 % / 10 % gaps; flag
    true in 20 % of its 950 present values; size 0..1 in ten 10 % bins, 5 % gaps."""
    return {
        "n_samples": 1000,
        "features": {
            "plan": {
                "category_fractions": {"basic": 0.5, "plus": 0.3, "pro": 0.1},
                "missing_rate": 0.1,
            },
            "flag": {
                "bin_edges": [0.0],
                "bin_fractions": [0.8, 0.2],
                "mean": 0.2,
                "std": 0.4,
                "sample": [0.0] * 760 + [1.0] * 190,
                "missing_rate": 0.05,
            },
            "size": {
                "bin_edges": [round(0.1 * k, 1) for k in range(1, 10)],
                "bin_fractions": [0.1] * 10,
                "mean": 0.5,
                "std": 0.29,
                "sample": ((np.arange(950) + 0.5) / 950).tolist(),
                "missing_rate": 0.05,
            },
        },
        "class_distribution": {"x": 0.5, "y": 0.5},
    }


def mixed_window(n: int, plan: list[float], flag_true: float, gaps: float) -> np.ndarray:
    """``n`` rows: plan codes cycled from ``plan``, flag 1 in ``flag_true`` of the rows, size
    evenly spaced; the first ``gaps`` share of the rows of every column are NaN."""
    rows = np.column_stack(
        [
            np.resize(np.asarray(plan, dtype=float), n),
            (np.arange(n) % 100 < flag_true * 100).astype(float),
            (np.arange(n) + 0.5) / n,
        ]
    )
    rows[: int(gaps * n)] = NAN
    return rows


def mixed_report(rows: np.ndarray, **kwargs: Any) -> dict[str, Any]:
    labels = ["x", "y"] * (len(rows) // 2)
    return drift.drift_report(
        mixed_reference(),
        rows,
        labels,
        ["plan", "flag", "size"],
        specs=[PLAN, BOOL, SIZE],
        **kwargs,
    )


def test_report_entries_carry_kind_statistics_and_missing_rates() -> None:
    # Plan codes 0,0,0,0,0,1,1,1,2 repeat: basic 5/9, plus 3/9, pro 1/9 of present values,
    # the reference's 0.5 / 0.3 / 0.1 over 0.9 exactly; 10 % gaps everywhere.
    rows = mixed_window(900, [0, 0, 0, 0, 0, 1, 1, 1, 2], 0.2, 0.1)
    report = mixed_report(rows)
    plan, flag, size = (report["features"][name] for name in ("plan", "flag", "size"))
    assert plan["kind"] == "category"
    assert plan["psi"] == pytest.approx(0.0, abs=1e-3)  # the gap rows shift the cycle a bit
    assert plan["reference_distribution"] == pytest.approx(
        {"basic": 5 / 9, "plus": 3 / 9, "pro": 1 / 9}
    )
    assert (plan["missing_rate"], plan["reference_missing_rate"]) == (0.1, 0.1)
    assert plan["status"] == "ok"
    assert flag["kind"] == "bool"
    assert set(flag["live_distribution"]) == {"false", "true"}
    assert flag["reference_distribution"] == pytest.approx({"false": 0.8, "true": 0.2})
    assert flag["missing_rate"] == 0.1 and flag["reference_missing_rate"] == 0.05
    assert size["kind"] == "numeric" and "ks_pvalue" in size and "chi2_pvalue" not in size
    assert report["thresholds"]["ks_alpha_corrected"] == pytest.approx(0.01 / 6)  # 3 + 3 tests


def test_numeric_gaps_are_left_out_of_psi_and_ks() -> None:
    rows = mixed_window(1000, [0], 0.2, 0.2)
    size = mixed_report(rows)["features"]["size"]
    present = rows[200:, 2]
    reference = mixed_reference()["features"]["size"]
    ks = stats.ks_2samp(present, reference["sample"])
    assert size["ks_pvalue"] == pytest.approx(ks.pvalue, rel=1e-9)
    assert size["live_mean"] == pytest.approx(float(np.mean(present)))
    assert size["missing_rate"] == 0.2 and size["missing_rate_shift"] == pytest.approx(0.15)
    assert size["missing_status"] == "alert" and size["status"] == "alert"


def test_bool_shift_is_judged_on_its_two_shares() -> None:
    # flag true in 60 % of the live rows against 20 %: PSI over (false, true) by hand.
    rows = mixed_window(1000, [0, 0, 0, 0, 0, 1, 1, 1, 2], 0.6, 0.05)
    flag = mixed_report(rows)["features"]["flag"]
    live_true = float(np.mean(rows[50:, 1]))
    expected = (live_true - 0.2) * np.log(live_true / 0.2) + (0.2 - live_true) * np.log(
        (1 - live_true) / 0.8
    )
    assert flag["psi"] == pytest.approx(expected, rel=1e-9)
    assert flag["status"] == "alert"


def test_a_feature_with_too_few_present_values_gets_only_its_missing_rate_check() -> None:
    rows = mixed_window(300, [0, 1], 0.2, 0.7)  # 90 present values, 100 needed
    report = mixed_report(rows)
    for name in ("plan", "flag", "size"):
        entry = report["features"][name]
        assert entry["psi"] is None
        assert (
            entry["detail"] == "90 present values, 100 needed for a verdict on their distribution"
        )
        assert entry["missing_status"] == "alert"
        assert entry["status"] == "alert"


def test_unseen_category_code_in_the_log_is_reported() -> None:
    rows = mixed_window(1000, [0, 0, 0, 0, 0, 1, 1, 1, 2, 7], 0.2, 0.0)
    plan = mixed_report(rows)["features"]["plan"]
    assert plan["unseen_share"] == pytest.approx(0.1)
    assert plan["chi2_significant"] is True
    assert plan["status"] != "ok"


def test_category_reference_without_a_contract_is_refused() -> None:
    rows = mixed_window(200, [0], 0.2, 0.0)
    with pytest.raises(ValueError, match=r"\['plan'\] are categories .* needs the model contract"):
        drift.drift_report(mixed_reference(), rows, ["x"] * 200, ["plan", "flag", "size"])


def test_contract_and_reference_of_other_shapes_are_refused() -> None:
    rows = mixed_window(200, [0], 0.2, 0.0)
    numeric_plan = FeatureSpec(name="plan", type="float")
    with pytest.raises(ValueError, match="'plan' is a float in the contract but not in the"):
        drift.drift_report(
            mixed_reference(),
            rows,
            ["x"] * 200,
            ["plan", "flag", "size"],
            specs=[numeric_plan, BOOL, SIZE],
        )
    with pytest.raises(ValueError, match="the contract's features are not"):
        drift.drift_report(
            mixed_reference(), rows, ["x"] * 200, ["plan", "flag", "size"], specs=[BOOL, PLAN, SIZE]
        )


def test_without_a_contract_numbers_with_reference_gaps_are_nullable() -> None:
    reference = mixed_reference()
    columns = drift.columns_of(reference, ["flag", "size"], None)
    assert columns == [drift.Column("flag", nullable=True), drift.Column("size", nullable=True)]


# --- the KS test above scipy's exact range ------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.02, 0.3])
def test_ks_test_of_a_large_window_matches_scipy(shift: float) -> None:
    rng = np.random.default_rng(7)
    reference = np.sort(np.round(rng.normal(0, 1, 1000), 1))  # ties, like Iris's 0.1 cm
    live = np.sort(np.round(rng.normal(shift, 1, 20_000), 1))
    assert len(live) > numeric_columns.KS_EXACT_MAX  # the case this test is about
    scipy_result = stats.ks_2samp(live, reference)
    statistic, pvalue = numeric_columns.ks_test(live, reference)
    assert statistic == pytest.approx(float(scipy_result.statistic), abs=1e-12)
    assert pvalue == pytest.approx(float(scipy_result.pvalue), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("seed", range(30))
def test_ks_statistic_matches_scipy_on_small_samples_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.integers(0, 8, rng.integers(1, 40)).astype(float))
    live = np.sort(rng.integers(0, 10, rng.integers(1, 60)).astype(float))
    expected = float(stats.ks_2samp(live, reference).statistic)
    assert numeric_columns.ks_statistic(live, reference) == pytest.approx(expected, abs=1e-12)


# --- boundaries (mutation tests) ----------------------------------------------------------


def test_live_counts_an_index_equal_to_the_number_of_categories_is_unseen() -> None:
    # Three categories have indexes 0, 1, 2: 3 is one past the last, so unseen.
    counts = category_columns.live_counts(np.array([0.0, 2.0, 3.0, 3.0]), 3)
    assert counts.tolist() == [1.0, 0.0, 1.0, 2.0]


def test_reference_shares_without_any_present_value_are_all_zero() -> None:
    entry = {"category_fractions": {}, "missing_rate": 1.0}
    shares = category_columns.reference_shares(entry, ["a", "b"])
    assert shares.tolist() == [0.0, 0.0, 0.0]


def test_category_drift_a_reference_bucket_the_window_lacks_counts_in_psi() -> None:
    # Live: 10 a, no b. b's live share is smoothed to 1e-4 (then renormalised) by hand.
    result = category_columns.category_drift(
        np.array([0.5, 0.5, 0.0]), np.array([10.0, 0.0, 0.0]), ["a", "b"], 0.01, 100
    )
    live = np.array([1.0, 1e-4]) / (1 + 1e-4)
    expected = np.array([0.5, 0.5])
    assert result["psi"] == pytest.approx(
        float(np.sum((live - expected) * np.log(live / expected))), rel=1e-12
    )
    assert result["live_distribution"] == {"a": 1.0, "b": 0.0}


def test_category_drift_a_single_unseen_value_counts_in_psi() -> None:
    # One live value of 100 is unseen: a bucket with a count of 1 and no reference share.
    result = category_columns.category_drift(
        np.array([0.5, 0.5, 0.0]), np.array([50.0, 49.0, 1.0]), ["a", "b"], 0.01, 100
    )
    expected = np.array([0.5, 0.5, 1e-4]) / (1 + 1e-4)
    live = np.array([0.5, 0.49, 0.01])
    assert result["psi"] == pytest.approx(
        float(np.sum((live - expected) * np.log(live / expected))), rel=1e-12
    )
    oracle = stats.chi2_contingency([[50, 50, 0], [50, 49, 1]], correction=False)
    assert result["chi2_statistic"] == pytest.approx(oracle.statistic, rel=1e-12)
    assert result["unseen_share"] == 0.01


def test_category_drift_a_p_value_equal_to_alpha_is_not_significant() -> None:
    expected, counts = np.array([0.5, 0.5, 0.0]), np.array([60.0, 40.0, 0.0])
    pvalue = float(stats.chi2_contingency([[50, 50], [60, 40]], correction=False).pvalue)
    # PSI 0.04 < 0.1: only the test could make it warn.
    result = category_columns.category_drift(expected, counts, ["a", "b"], pvalue, 100)
    assert result["chi2_pvalue"] == pvalue
    assert result["chi2_significant"] is False
    assert result["status"] == "ok"
    above = category_columns.category_drift(expected, counts, ["a", "b"], pvalue * 1.001, 100)
    assert above["chi2_significant"] is True and above["status"] == "warn"


def test_homogeneity_test_keeps_a_bucket_with_a_single_value() -> None:
    oracle = stats.chi2_contingency([[50, 50, 0], [45, 54, 1]], correction=False)
    result = category_columns.homogeneity_test(
        np.array([50.0, 50.0, 0.0]), np.array([45.0, 54.0, 1.0])
    )
    assert result == (
        pytest.approx(oracle.statistic, rel=1e-12),
        pytest.approx(oracle.pvalue, rel=1e-9),
    )


def test_homogeneity_test_of_a_one_value_reference_is_a_test() -> None:
    # One reference value against 30 live: a 2 x 2 table scipy tests (1 degree of freedom).
    oracle = stats.chi2_contingency([[1, 0], [10, 20]], correction=False)
    statistic, pvalue = category_columns.homogeneity_test(
        np.array([1.0, 0.0]), np.array([10.0, 20.0])
    )
    assert statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert pvalue == pytest.approx(oracle.pvalue, rel=1e-9)
    assert pvalue < 1.0


def test_two_proportion_pvalue_of_a_single_gap_is_fishers_exact_test() -> None:
    # 0 of 100 against 1 of 1: the one gap lands in the one-row side with probability
    # 1/101; the other table (probability 100/101) is more likely, so p = 1/101.
    assert missing_values.two_proportion_pvalue(0, 100, 1, 1) == pytest.approx(1 / 101, rel=1e-9)
    # 1 of 10 against 0 of 30: the gap is in the first row with probability 10/40.
    assert missing_values.two_proportion_pvalue(1, 10, 0, 30) == pytest.approx(0.25, rel=1e-9)


def test_two_proportion_pvalue_uses_the_rarer_outcome_for_the_expected_count() -> None:
    # 20 of 20 against 117 of 120: gaps are common, non-gaps rare (3 of 140), so the
    # smallest expected count is 3 * 20 / 140 ~ 0.43 < 1: Fisher's test. By hand: the
    # non-gaps in the first row follow the hypergeometric law (140 rows, 3 non-gaps, 20
    # drawn); the observed 0 is the likeliest table, so p sums all four: 1.
    def prob(j: int) -> float:
        return math.comb(3, j) * math.comb(137, 20 - j) / math.comb(140, 20)

    observed = prob(0)
    expected = sum(prob(j) for j in range(4) if prob(j) <= observed * (1 + 1e-7))
    assert missing_values.two_proportion_pvalue(20, 20, 117, 120) == pytest.approx(expected)
    # 1 of 30 against 9 of 10: non-gaps 30 of 40, gaps 10; smallest 10 * 10 / 40 = 2.5 >= 1.
    table = [[1, 29], [9, 1]]
    pearson = stats.chi2_contingency(table, correction=False).statistic
    assert missing_values.two_proportion_pvalue(1, 30, 9, 10) == pytest.approx(
        stats.chi2.sf(pearson * 39 / 40, 1), rel=1e-9
    )


@pytest.mark.parametrize(("k1", "gaps"), [(2, 2), (3, 3)])
def test_two_proportion_pvalue_is_chi_square_from_an_expected_count_of_one(
    k1: int, gaps: int
) -> None:
    # 10 against 10 rows: smallest expected count gaps * 10 / 20 = 1 (2 gaps) or 1.5
    # (3 gaps), both >= 1: the 'N-1' chi-square, not Fisher's test.
    table = [[k1, 10 - k1], [gaps - k1, 10 - gaps + k1]]
    pearson = stats.chi2_contingency(table, correction=False).statistic
    expected = stats.chi2.sf(pearson * 19 / 20, 1)
    result = missing_values.two_proportion_pvalue(k1, 10, gaps - k1, 10)
    assert result == pytest.approx(expected, rel=1e-9)
    assert result != pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-3)


def test_missing_drift_of_an_empty_window_has_a_zero_rate() -> None:
    result = missing_values.missing_drift(0, 0, 0.04, 275, alpha=0.01)
    assert result["missing_rate"] == 0.0
    assert result["missing_rate_shift"] == pytest.approx(-0.04)
    assert result["missing_pvalue"] == 1.0
    assert result["missing_status"] == "ok"


def test_missing_drift_a_p_value_equal_to_alpha_is_not_significant() -> None:
    # 4.4 % against 4 % in 100,000 rows each: a +0.4 point shift (< MISSING_WARN), so the
    # test alone decides between ok and warn.
    pvalue = missing_values.two_proportion_pvalue(4_000, 100_000, 4_400, 100_000)
    result = missing_values.missing_drift(4_400, 100_000, 0.04, 100_000, alpha=pvalue)
    assert result["missing_pvalue"] == pvalue
    assert result["missing_significant"] is False
    assert result["missing_status"] == "ok"
    above = missing_values.missing_drift(4_400, 100_000, 0.04, 100_000, alpha=pvalue * 1.001)
    assert above["missing_significant"] is True and above["missing_status"] == "warn"
