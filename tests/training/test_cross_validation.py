"""Tune's folds and scores against scikit-learn's own splitters and metric functions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.core.errors import InvalidSplitError
from petalflow.training import cross_validation as cv
from petalflow.training.data import load_dataset

X, Y = load_dataset()


def _model() -> Pipeline:
    return Pipeline([("s", StandardScaler()), ("c", LogisticRegression(C=0.3, max_iter=1000))])


@pytest.mark.parametrize("k", [2, 5])  # 2: the fewest folds, not the one-split path
def test_folds_are_sklearns_stratified_k_fold(k: int) -> None:
    found = cv.folds(Y, k, 7, 0.2)
    assert len(found) == k
    expected = StratifiedKFold(k, shuffle=True, random_state=7).split(np.zeros(len(Y)), Y)
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


@pytest.mark.parametrize("seed", [0, 3])
def test_one_fold_is_sklearns_stratified_train_test_split_for_the_seed(seed: int) -> None:
    non_test = Y.iloc[:120]  # 50, 50 and 20 rows of the three species
    [(fit, validation)] = cv.folds(non_test, 1, seed, 0.2)
    # 10 % of all rows is 12.5 % of the 80 % outside the test split.
    fit2, validation2 = train_test_split(
        np.arange(120), test_size=0.125, random_state=seed, stratify=non_test
    )
    np.testing.assert_array_equal(fit, np.sort(fit2))
    np.testing.assert_array_equal(validation, np.sort(validation2))


@pytest.mark.parametrize(
    ("y", "held"),
    [
        (pd.Series(["a"] * 10 + ["b"] * 10 + ["c"]), "3 of these 21"),  # c: one row
        (pd.Series(["a"] * 6 + ["b"] * 5 + ["c"] * 5), "2 of these 16"),  # 2 rows, 3 classes
    ],
)
def test_one_fold_refuses_a_split_that_cannot_hold_every_class(y: pd.Series, held: str) -> None:
    # ceil(16 x 12.5 %) = 2 rows: a smaller --test-size would not help (it was advised)
    message = (
        f"a validation split of 10% of the rows ({held} training rows) cannot hold every one "
        "of the 3 classes and keep each in the rest; use --cv-folds 2 or more (folds use "
        "every training row)"
    )
    with pytest.raises(InvalidSplitError, match=f"^{re.escape(message)}$"):
        cv.folds(y, 1, 0, 0.2)


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


@pytest.mark.parametrize(
    ("positive", "column"),
    [("small", 1), ("big", 0), (None, 1)],  # None: the second class, as scikit-learn's
)
def test_binary_auc_is_the_positive_class_auc(positive: str | None, column: int) -> None:
    y = pd.Series(np.where(X["sepal_length"] > 5.8, "big", "small"))
    model = _model().fit(X, y)
    proba = model.predict_proba(X)
    expected = roc_auc_score(y == model.classes_[column], proba[:, column])
    assert cv.score(cv.METRICS["roc_auc_ovr"], model, X, y, positive) == expected


SKLEARN_SCORES = {  # scikit-learn's function on the model's classes, and what it reads
    "accuracy": (lambda y, p, c: accuracy_score(y, p), False),
    "f1_macro": (lambda y, p, c: f1_score(y, p, average="macro", labels=c, zero_division=0), False),
    "precision_macro": (
        lambda y, p, c: precision_score(y, p, average="macro", labels=c, zero_division=0),
        False,
    ),
    "recall_macro": (
        lambda y, p, c: recall_score(y, p, average="macro", labels=c, zero_division=0),
        False,
    ),
    "roc_auc_ovr": (lambda y, p, c: roc_auc_score(y, p, multi_class="ovr", labels=c), True),
    "log_loss": (lambda y, p, c: log_loss(y, p, labels=c), True),
}


@pytest.mark.parametrize("name", SKLEARN_SCORES)
def test_scores_count_the_models_classes_on_rows_lacking_one(name: str) -> None:
    # Validation rows without virginica (a feedback sample can lack a class): every class
    # the model has still counts, as scikit-learn scores with labels=classes. An absent
    # class leaves the one-vs-rest AUC undefined: NaN with scikit-learn's warning, not an
    # error about the number of columns.
    model = _model().fit(X, Y)
    rows = (Y != "virginica").to_numpy()
    Xv, yv = X[rows], Y[rows]
    oracle, uses_proba = SKLEARN_SCORES[name]
    metric = cv.METRICS[name]
    assert metric.uses_proba is uses_proba
    assert metric.maximize is (name != "log_loss")
    values = model.predict_proba(Xv) if uses_proba else model.predict(Xv)
    classes = list(model.classes_)
    if name == "roc_auc_ovr":
        with pytest.warns(UndefinedMetricWarning, match="Only one class"):
            expected = oracle(yv, values, classes)
        with pytest.warns(UndefinedMetricWarning, match="Only one class"):
            found = cv.score(metric, model, Xv, yv, None)
        assert np.isnan(expected) and np.isnan(found)
    else:
        assert cv.score(metric, model, Xv, yv, None) == oracle(yv, values, classes)


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


def test_prepared_folds_fit_a_supervised_preprocessing_on_the_labels_too() -> None:
    # A step that selects features by their relation to the labels: the pipeline's fit
    # gives it y, so prepare_folds must too, or the scores differ from the whole pipeline's.
    folds = cv.folds(Y, 5, 0, 0.2)
    prepared = cv.prepare_folds(lambda: SelectKBest(f_classif, k=2), X, Y, folds)
    assert all(fold.X_fit.shape[1] == 2 for fold in prepared)
    classifier = LogisticRegression(C=0.5, max_iter=1000)
    found = cv.score_folds(classifier, prepared, cv.METRICS["f1_macro"], None)
    pipeline = Pipeline([("select", SelectKBest(f_classif, k=2)), ("c", classifier)])
    expected = cross_val_score(pipeline, X, Y, cv=folds, scoring="f1_macro")
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)
