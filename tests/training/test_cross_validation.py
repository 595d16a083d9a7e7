"""Tune's folds and scores against scikit-learn's own splitters and metric functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.core.errors import InvalidSplitError
from petalflow.training import cross_validation as cv
from petalflow.training.data import load_dataset

X, Y = load_dataset()


def _model() -> Pipeline:
    return Pipeline([("s", StandardScaler()), ("c", LogisticRegression(C=0.3, max_iter=1000))])


def test_folds_are_sklearns_stratified_k_fold() -> None:
    found = cv.folds(Y, 5, 7, 0.2)
    expected = StratifiedKFold(5, shuffle=True, random_state=7).split(np.zeros(len(Y)), Y)
    for (fit, validation), (fit2, validation2) in zip(found, expected, strict=True):
        np.testing.assert_array_equal(fit, fit2)
        np.testing.assert_array_equal(validation, validation2)


def test_one_fold_is_a_stratified_validation_split_of_a_tenth_of_all_rows() -> None:
    non_test = Y.iloc[:120]  # as if test size 0.2 left 120 of 150 rows
    [(fit, validation)] = cv.folds(non_test, 1, 0, 0.2)
    assert len(validation) == 15  # 10 % of 150 rows
    assert len(fit) == 105  # 70 %
    assert sorted([*fit, *validation]) == list(range(120))
    assert set(non_test.iloc[validation]) == set(non_test)


def test_folds_refuse_more_folds_than_the_smallest_class_has_rows() -> None:
    y = pd.Series(["a"] * 10 + ["b"] * 3)
    with pytest.raises(InvalidSplitError, match="smallest class has 3; choose at most 3 folds"):
        cv.folds(y, 4, 0, 0.2)
    assert len(cv.folds(y, 3, 0, 0.2)) == 3


def test_cross_validate_equals_sklearns_cross_val_score_on_the_same_folds() -> None:
    folds = cv.folds(Y, 4, 1, 0.2)
    found = cv.cross_validate(_model, X, Y, folds, cv.METRICS["f1_macro"], None)
    expected = cross_val_score(_model(), X, Y, cv=folds, scoring="f1_macro")
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)


def test_scores_are_sklearns_metric_functions() -> None:
    model = _model().fit(X.iloc[::2], Y.iloc[::2])
    Xv, yv = X.iloc[1::2], Y.iloc[1::2]
    proba, predicted = model.predict_proba(Xv), model.predict(Xv)
    assert cv.score(cv.METRICS["f1_macro"], model, Xv, yv, None) == f1_score(
        yv, predicted, average="macro"
    )
    assert cv.score(cv.METRICS["log_loss"], model, Xv, yv, None) == log_loss(yv, proba)
    assert cv.score(cv.METRICS["roc_auc_ovr"], model, Xv, yv, None) == roc_auc_score(
        yv, proba, multi_class="ovr"
    )
    assert not cv.METRICS["log_loss"].maximize and cv.METRICS["accuracy"].maximize


F1_CASES = {
    "mixed": (list("abcabcabca"), list("abcbbcaaca"), ["a", "b", "c"]),
    "a class never predicted": (list("abcabc"), list("aabaab"), ["a", "b", "c"]),
    "all wrong": (list("aabb"), list("bbaa"), ["a", "b"]),
    "a true label the model lacks": (list("abzab"), list("abaab"), ["a", "b"]),
    "a class in neither": (list("aabb"), list("abab"), ["a", "b", "c"]),
}


@pytest.mark.parametrize("n_classes", [8, 11, 24])
def test_f1_macro_equals_sklearns_f1_score_bit_for_bit_with_many_classes(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    classes = [f"class {i:02d}" for i in range(n_classes)]
    for _ in range(50):
        truth = rng.choice([*classes, "unseen"], 60)
        predicted = np.where(rng.random(60) < 0.6, truth, rng.choice(classes, 60))
        predicted = np.where(predicted == "unseen", classes[0], predicted)
        expected = f1_score(truth, predicted, average="macro", labels=classes, zero_division=0)
        found = cv.METRICS["f1_macro"].compute(pd.Series(truth), predicted, classes, None)
        assert found == expected


@pytest.mark.parametrize("truth, predicted, classes", F1_CASES.values(), ids=F1_CASES.keys())
def test_f1_macro_equals_sklearns_f1_score_bit_for_bit(
    truth: list[str], predicted: list[str], classes: list[str]
) -> None:
    # Bit for bit: the CV scores steer the sampler, so any difference changes the trials.
    expected = f1_score(truth, predicted, average="macro", labels=classes, zero_division=0)
    found = cv.METRICS["f1_macro"].compute(
        pd.Series(truth, dtype=object), np.asarray(predicted, dtype=object), classes, None
    )
    assert found == expected


def test_binary_auc_is_the_positive_class_auc() -> None:
    y = pd.Series(np.where(X["sepal_length"] > 5.8, "big", "small"))
    model = _model().fit(X, y)
    proba = model.predict_proba(X)
    assert cv.score(cv.METRICS["roc_auc_ovr"], model, X, y, "small") == roc_auc_score(
        y == "small", proba[:, 1]
    )


@pytest.mark.parametrize("dataset", ["iris", "penguins"])
def test_prepared_folds_score_as_sklearn_scores_the_whole_pipeline(dataset: str) -> None:
    from petalflow.training.data import prepare
    from petalflow.training.pipeline import assemble, preprocessing

    data = prepare(dataset, 0.2, 0)
    X, y = data.split.X_train, data.split.y_train
    folds = cv.folds(y, 5, 0, 0.2)
    prepared = cv.prepare_folds(lambda: Pipeline([preprocessing(data.features)]), X, y, folds)
    classifier = LogisticRegression(C=0.2, class_weight="balanced", max_iter=1000)
    found = cv.score_folds(classifier, prepared, cv.METRICS["f1_macro"], None)
    pipeline = assemble(classifier, data.features)
    expected = cross_val_score(pipeline, X, y, cv=folds, scoring="f1_macro")
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)
