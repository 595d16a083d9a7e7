"""Test-split metrics and the confusion matrix against independent oracles.

Two oracles: a stub model with fixed predictions whose metrics are worked out by hand,
and a pipeline fitted here whose metrics are recomputed with scikit-learn's own metric
functions. Both data sets make accuracy, macro precision, macro recall and macro F1
(and each class's precision, recall and F1) differ, so a metric written under another
metric's key is detected.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.training import evaluation

# Rows: true a a a a b b b c c c; predicted a a b b b a b c b c.
TRUE = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"]
PREDICTED = ["a", "a", "b", "b", "b", "a", "b", "c", "b", "c"]
# Probabilities whose arg-max is PREDICTED (columns a, b, c).
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.4, 0.5, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.7, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
        [0.1, 0.6, 0.3],
        [0.2, 0.2, 0.6],
    ]
)


class StubModel:
    """Duck-typed fitted pipeline: fixed predictions and probabilities, row by row."""

    def __init__(self, classes: list[str], predicted: list[str], proba: np.ndarray) -> None:
        self.classes_ = np.asarray(classes)
        self._predicted = np.asarray(predicted)
        self._proba = proba

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._predicted[X["row"].to_numpy()]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._proba[X["row"].to_numpy()]


def stub_inputs(n: int) -> pd.DataFrame:
    return pd.DataFrame({"row": np.arange(n)})


def hand_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    pairs = list(itertools.product(scores[positive], scores[~positive]))
    return sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in pairs) / len(pairs)


def test_evaluate_stub_model_hand_computed_metrics() -> None:
    model: Any = StubModel(["a", "b", "c"], PREDICTED, PROBA)
    metrics = evaluation.evaluate(model, stub_inputs(10), pd.Series(TRUE))
    # Per class (true positives / predicted, true positives / support):
    #   a: 2/3 precision, 2/4 recall, F1 4/7;  b: 2/5, 2/3, F1 1/2;  c: 2/2, 2/3, F1 4/5.
    expected = {
        "accuracy": 6 / 10,
        "precision_macro": (2 / 3 + 2 / 5 + 1) / 3,
        "recall_macro": (1 / 2 + 2 / 3 + 2 / 3) / 3,
        "f1_macro": (4 / 7 + 1 / 2 + 4 / 5) / 3,
        "precision_a": 2 / 3,
        "recall_a": 1 / 2,
        "f1_a": 4 / 7,
        "precision_b": 2 / 5,
        "recall_b": 2 / 3,
        "f1_b": 1 / 2,
        "precision_c": 1.0,
        "recall_c": 2 / 3,
        "f1_c": 4 / 5,
        "log_loss": -np.mean(
            np.log([0.7, 0.6, 0.4, 0.3, 0.7, 0.4, 0.8, 0.8, 0.3, 0.6])
        ),  # probability of the true class, row by row
        "roc_auc_ovr": np.mean(
            [hand_auc(PROBA[:, k], np.asarray(TRUE) == c) for k, c in enumerate("abc")]
        ),
    }
    supports = {"support_a": 4, "support_b": 3, "support_c": 3}
    assert set(metrics) == set(expected) | set(supports)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-12), key
        assert type(metrics[key]) is float, key
    for key, count in supports.items():
        assert metrics[key] == count
        assert type(metrics[key]) is int, key


def test_evaluate_keys_classes_whose_names_mlflow_refuses_or_an_average_has() -> None:
    # The stub's a, b, c renamed: "<=5" cannot be in an MLflow metric name, and a class
    # named "macro" would overwrite f1_macro with its own F1.
    rename = {"a": "<=5", "b": "macro", "c": "z"}  # in sorted order, as the columns
    model: Any = StubModel(list(rename.values()), [rename[p] for p in PREDICTED], PROBA)
    metrics = evaluation.evaluate(model, stub_inputs(10), pd.Series([rename[t] for t in TRUE]))
    assert metrics["f1_macro"] == pytest.approx((4 / 7 + 1 / 2 + 4 / 5) / 3, rel=1e-12)
    assert metrics["precision_macro"] == pytest.approx((2 / 3 + 2 / 5 + 1) / 3, rel=1e-12)
    assert metrics["f1_class1_macro"] == pytest.approx(1 / 2, rel=1e-12)
    assert metrics["precision_class0___5"] == pytest.approx(2 / 3, rel=1e-12)
    assert metrics["support_class0___5"] == 4 and metrics["f1_z"] == pytest.approx(4 / 5)
    assert not any("<" in key or "=" in key for key in metrics)


@pytest.mark.parametrize(
    ("classes", "keys"),
    [
        (["setosa", "größe", "a b", "x-1.5"], ["setosa", "größe", "a b", "x-1.5"]),
        (["<=50K", ">50K"], ["class0___50K", "class1__50K"]),
        (["a/b", "a:b", "macro"], ["class0_a_b", "class1_a_b", "class2_macro"]),
        (["y" * 201, "y" * 200], ["class0_" + "y" * 200, "y" * 200]),
        (["<=5", "class0___5"], ["class0___5", "class1_class0___5"]),  # a stand-in's spelling
        (["macro", "class0_macro"], ["class0_macro", "class1_class0_macro"]),
    ],
)
def test_class_keys_are_labels_mlflow_takes_or_numbered_stand_ins(
    classes: list[str], keys: list[str]
) -> None:
    assert evaluation.class_keys(classes) == keys


def test_evaluate_never_predicted_class_scores_zero_precision() -> None:
    # Nothing is predicted "c": its precision is 0 (not 1, not NaN), and so are recall, F1.
    true = ["a", "a", "b", "b", "c"]
    predicted = ["a", "b", "b", "b", "a"]
    proba = np.array(
        [[0.6, 0.3, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.2, 0.3]]
    )
    model: Any = StubModel(["a", "b", "c"], predicted, proba)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluation.evaluate(model, stub_inputs(5), pd.Series(true))
    assert [str(w.message) for w in caught if "ill-defined" in str(w.message)] == []
    assert metrics["precision_c"] == 0.0
    assert metrics["recall_c"] == 0.0
    assert metrics["f1_c"] == 0.0
    # a: 1/2 precision, 1/2 recall; b: 2/3 precision, 1 recall, F1 4/5.
    assert metrics["precision_macro"] == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert metrics["recall_macro"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert metrics["f1_macro"] == pytest.approx((1 / 2 + 4 / 5 + 0) / 3)
    assert metrics["accuracy"] == pytest.approx(3 / 5)


@pytest.fixture(scope="module")
def fitted() -> tuple[Pipeline, pd.DataFrame, pd.Series]:
    """A weak, imbalanced three-class problem: the metrics differ from one another."""
    X, y = make_classification(
        n_samples=400,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        weights=[0.5, 0.3, 0.2],
        class_sep=0.6,
        random_state=3,
    )
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"])
    names = pd.Series(np.array(["alpha", "beta", "gamma"])[y])
    model = Pipeline([("scaler", StandardScaler()), ("classifier", LogisticRegression())])
    model.fit(frame.iloc[:250], names.iloc[:250])
    return model, frame.iloc[250:].reset_index(drop=True), names.iloc[250:].reset_index(drop=True)


def test_evaluate_fitted_pipeline_matches_sklearn_metric_functions(fitted: Any) -> None:
    model, X, y = fitted
    metrics = evaluation.evaluate(model, X, y)
    predicted = model.predict(X)
    proba = model.predict_proba(X)
    classes = ["alpha", "beta", "gamma"]
    per_class = {
        "precision": precision_score(y, predicted, labels=classes, average=None),
        "recall": recall_score(y, predicted, labels=classes, average=None),
        "f1": f1_score(y, predicted, labels=classes, average=None),
    }
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro"),
        "precision_macro": precision_score(y, predicted, average="macro"),
        "recall_macro": recall_score(y, predicted, average="macro"),
        "log_loss": log_loss(y, proba, labels=classes),
        "roc_auc_ovr": roc_auc_score(y, proba, multi_class="ovr"),
    }
    for metric, values in per_class.items():
        for name, value in zip(classes, values, strict=True):
            expected[f"{metric}_{name}"] = value
    supports = {f"support_{name}": int(np.sum(y == name)) for name in classes}

    # The data set must tell the metrics apart, or a swap would go unseen.
    macro = [expected[k] for k in ("accuracy", "f1_macro", "precision_macro", "recall_macro")]
    assert len({round(v, 6) for v in macro}) == 4, macro
    for name in classes:
        trio = [expected[f"{m}_{name}"] for m in ("precision", "recall", "f1")]
        assert len({round(v, 6) for v in trio}) == 3, (name, trio)
    assert len({round(expected[f"f1_{name}"], 6) for name in classes}) == 3
    assert len(set(supports.values())) == 3

    assert set(metrics) == set(expected) | set(supports)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(float(value), rel=1e-12), key
    for key, count in supports.items():
        assert metrics[key] == count, key


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_evaluate_class_absent_from_the_split_keeps_its_keys() -> None:
    # The model knows "c" but the split holds none (split_dataset prevents this in training).
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    model: Any = StubModel(["a", "b", "c"], ["a", "b", "a"], proba)
    metrics = evaluation.evaluate(model, stub_inputs(3), pd.Series(["a", "b", "b"]))
    assert metrics["support_c"] == 0
    assert (metrics["precision_c"], metrics["recall_c"], metrics["f1_c"]) == (0.0, 0.0, 0.0)
    # Log loss still uses all three model classes: -(ln 0.8 + ln 0.8 + ln 0.3) / 3.
    assert metrics["log_loss"] == pytest.approx(-(2 * math.log(0.8) + math.log(0.3)) / 3)
    # Macro scores average the classes present in the split or the predictions (a, b).
    assert metrics["precision_macro"] == pytest.approx((1 / 2 + 1) / 2)
    assert metrics["recall_macro"] == pytest.approx((1 + 1 / 2) / 2)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(metrics["roc_auc_ovr"])  # one-vs-rest AUC of "c" is undefined


def test_evaluate_class_predicted_but_absent_from_split_scores_zero_recall() -> None:
    # "c" is predicted once but never true: its recall is 0/0 -> 0, without a warning.
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.2, 0.5], [0.1, 0.8, 0.1]])
    model: Any = StubModel(["a", "b", "c"], ["a", "c", "b"], proba)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluation.evaluate(model, stub_inputs(3), pd.Series(["a", "a", "b"]))
    assert [str(w.message) for w in caught if "ill-defined" in str(w.message)] == []
    assert (metrics["precision_c"], metrics["recall_c"], metrics["f1_c"]) == (0.0, 0.0, 0.0)
    assert metrics["support_c"] == 0
    # a: precision 1, recall 1/2; b: 1, 1; c: 0, 0 (0/0).
    assert metrics["recall_macro"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert metrics["precision_macro"] == pytest.approx((1 + 1 + 0) / 3)
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_confusion_stub_model_hand_computed() -> None:
    model: Any = StubModel(["a", "b", "c"], PREDICTED, PROBA)
    result = evaluation.confusion(model, stub_inputs(10), pd.Series(TRUE))
    # Rows true, columns predicted: a -> a a b b; b -> b a b; c -> c b c.
    assert result == {"labels": ["a", "b", "c"], "matrix": [[2, 2, 0], [1, 2, 0], [0, 1, 2]]}
    assert all(type(cell) is int for row in result["matrix"] for cell in row)


def test_confusion_keeps_a_row_and_column_for_a_class_absent_from_the_split() -> None:
    model: Any = StubModel(["a", "b", "c"], ["a", "b", "a"], PROBA[:3])
    result = evaluation.confusion(model, stub_inputs(3), pd.Series(["a", "b", "b"]))
    assert result == {"labels": ["a", "b", "c"], "matrix": [[1, 0, 0], [1, 1, 0], [0, 0, 0]]}


def test_confusion_fitted_pipeline_matches_sklearn(fitted: Any) -> None:
    model, X, y = fitted
    result = evaluation.confusion(model, X, y)
    assert result["labels"] == ["alpha", "beta", "gamma"]
    expected = confusion_matrix(y, model.predict(X), labels=["alpha", "beta", "gamma"])
    assert result["matrix"] == expected.tolist()
    assert sum(map(sum, result["matrix"])) == len(y)


def test_binary_targets_add_roc_auc_and_average_precision_of_the_positive_class() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.pipeline import Pipeline as SkPipeline
    from sklearn.preprocessing import StandardScaler

    bunch = load_breast_cancer()
    X = pd.DataFrame(bunch.data[:, :5])
    X.columns = [f"f{i}" for i in range(5)]
    y = pd.Series(np.asarray(bunch.target_names)[bunch.target].astype(str))
    model = SkPipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(X, y)
    proba = model.predict_proba(X)
    for positive, column in (("malignant", 1), ("benign", 0), (None, 1)):
        scores = evaluation.evaluate(model, X, y, positive)
        truth = y == (positive or "malignant")
        assert scores["roc_auc"] == roc_auc_score(truth, proba[:, column])
        assert scores["average_precision"] == average_precision_score(truth, proba[:, column])
        assert scores["roc_auc_ovr"] == scores["roc_auc"]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_scores_of_coded_labels_equal_sklearn_on_the_text_bit_for_bit(n_classes: int) -> None:
    # Labels whose text order ("Zeta" < "alpha" < "Ärger") differs from their order of
    # appearance; the oracle: scikit-learn's functions on the strings themselves.
    rng = np.random.default_rng(7)
    X, codes = make_classification(
        n_samples=3000, n_features=6, n_informative=4, n_classes=n_classes, random_state=7
    )
    names = np.array(["alpha", "Ärger", "Zeta"][:n_classes])
    y = pd.Series(names[codes], dtype="str")
    noisy = X + rng.normal(scale=2.0, size=X.shape)  # keeps every score below 1
    frame = pd.DataFrame(noisy, columns=[f"f{i}" for i in range(6)])
    model = Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(frame, y)
    got = evaluation.evaluate(model, frame, y)
    predicted, proba = model.predict(frame), model.predict_proba(frame)
    classes = sorted(names)
    assert list(model.classes_) == classes
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro", zero_division=0),
        "precision_macro": precision_score(y, predicted, average="macro", zero_division=0),
        "recall_macro": recall_score(y, predicted, average="macro", zero_division=0),
        "log_loss": log_loss(y, proba, labels=classes),
    }
    if n_classes == 2:
        truth = y == classes[1]
        expected["roc_auc"] = expected["roc_auc_ovr"] = roc_auc_score(truth, proba[:, 1])
        expected["average_precision"] = average_precision_score(truth, proba[:, 1])
    else:
        expected["roc_auc_ovr"] = roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    per_class = precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
    for i, name in enumerate(classes):
        for prefix, values in zip(("precision", "recall", "f1", "support"), per_class, strict=True):
            expected[f"{prefix}_{name}"] = values[i]
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == float(value), key  # exact: the same bits as on the text
    assert 1 / n_classes < got["accuracy"] < 1.0  # neither perfect nor chance
    matrix = evaluation.confusion(model, frame, y)
    assert matrix["matrix"] == confusion_matrix(y, predicted, labels=classes).tolist()


def test_coded_keeps_scikit_learns_label_order_and_marks_labels_the_model_lacks() -> None:
    answers = evaluation.Predictions(
        ["b", "c"], np.array(["c", "b", "c"], dtype=object), np.zeros((3, 2))
    )
    codes = evaluation.coded(pd.Series(["a", "c", "b"], dtype="str"), answers)
    # Sorted labels seen: a, b, c.
    assert codes.truth.tolist() == [0, 2, 1]
    assert codes.predicted.tolist() == [2, 1, 2]
    assert codes.classes == [1, 2]


def test_predict_transforms_once_and_answers_as_the_pipeline(fitted: Any) -> None:
    model, X, _ = fitted
    answers = evaluation.predict(model, X)
    np.testing.assert_array_equal(answers.predicted, model.predict(X))
    np.testing.assert_array_equal(answers.proba, model.predict_proba(X))
    assert answers.classes == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("n_classes", [2, 3, 8, 13, 30])
def test_macro_f1_equals_sklearn_f1_score_bit_for_bit_for_each_block(n_classes: int) -> None:
    # From 8 classes on numpy's mean sums pairwise: adding class by class differs there.
    rng = np.random.default_rng(n_classes)
    truth = rng.integers(0, n_classes, 400)
    predicted = rng.integers(0, n_classes, (40, 400))
    predicted[0] = truth  # perfect
    predicted[1] = 0  # every other class never predicted
    predicted[2:20] = np.where(rng.random((18, 400)) < 0.7, truth, predicted[2:20])
    scores = evaluation.macro_f1(truth, predicted, n_classes)
    labels = list(range(n_classes))
    expected = [
        f1_score(truth, row, average="macro", labels=labels, zero_division=0) for row in predicted
    ]
    assert scores.tolist() == expected


def test_macro_f1_scores_a_class_absent_from_truth_and_predictions_zero() -> None:
    # A class no row has and none is predicted: F1 0 (scikit-learn's zero_division=0), not
    # NaN. Hand-computed: class 0 F1 2/3, class 1 F1 4/5, class 2 0; their mean.
    truth = np.array([0, 1, 0, 1])
    predicted = np.array([[0, 1, 1, 1]])
    scores = evaluation.macro_f1(truth, predicted, 3)
    assert scores.tolist() == [
        f1_score(truth, predicted[0], average="macro", labels=[0, 1, 2], zero_division=0)
    ]
    assert scores[0] == pytest.approx((2 / 3 + 4 / 5) / 3, rel=1e-15)
