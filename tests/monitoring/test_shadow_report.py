"""The shadow comparison's numbers against scikit-learn's and a hand-counted matrix."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import accuracy_score, f1_score

from petalflow.monitoring.prediction_log.comparison import Labelled
from petalflow.monitoring.shadow_report import comparison_report, matrix_labels

LABELS = ["setosa", "versicolor", "virginica"]


def test_comparison_report_counts_agreement_and_the_matrix_by_hand() -> None:
    primary = ["setosa", "setosa", "versicolor", "virginica", "virginica", "versicolor"]
    shadow = ["setosa", "versicolor", "versicolor", "virginica", "versicolor", "versicolor"]
    report = comparison_report(primary, shadow, [], LABELS)
    assert report["rows_compared"] == 6
    assert report["agreement_rate"] == 4 / 6
    # rows: the primary's label, columns: the shadow's
    assert report["label_matrix"] == {
        "labels": LABELS,
        "counts": [[1, 1, 0], [0, 2, 0], [0, 1, 1]],
    }
    assert report["labelled"] == {"n_labelled": 0, "primary": None, "shadow": None}


def test_comparison_report_scores_match_sklearn_over_labelled_rows() -> None:
    draw = random.Random(3)
    rows = [Labelled(*(draw.choice(LABELS) for _ in range(3))) for _ in range(57)]
    truth = [r.true_label for r in rows]
    report = comparison_report([], [], rows, LABELS)["labelled"]
    assert report["n_labelled"] == 57
    for who in ("primary", "shadow"):
        predicted = [getattr(r, who) for r in rows]
        assert report[who]["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
        assert report[who]["f1_macro"] == pytest.approx(f1_score(truth, predicted, average="macro"))


def test_comparison_report_of_nothing_has_no_rate_and_a_zero_matrix() -> None:
    report = comparison_report([], [], [], LABELS)
    assert report["rows_compared"] == 0 and report["agreement_rate"] is None
    assert report["label_matrix"]["counts"] == [[0, 0, 0]] * 3


def test_comparison_report_refuses_unpaired_labels() -> None:
    with pytest.raises(ValueError, match="2 primary labels but 1 shadow labels"):
        comparison_report(["a", "b"], ["a"], [], ["a", "b"])


def test_matrix_labels_put_the_shadows_extra_classes_last() -> None:
    assert matrix_labels(["b", "a"], ["a", "c", "b", "d"]) == ["b", "a", "c", "d"]
