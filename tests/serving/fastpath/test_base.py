"""FastPath's shared behaviour: one row takes predict_one; bad shapes and non-finite rows are refused."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from petalflow.serving.fastpath import (
    LogisticFastPath,
    compile_fast_path,
)
from tests.serving.fastpath.iris import (
    fit_iris,
    hand_logistic,
)


def test_fast_path_predict_proba_takes_predict_one_for_one_row_only() -> None:
    class Spy(LogisticFastPath):
        def predict_one(self, row: Sequence[float]) -> list[float]:
            return [float(len(row)), -1.0, -1.0]

        def predict_many(self, X: np.ndarray) -> np.ndarray:
            return np.full((len(X), 3), -2.0)

    good = hand_logistic()
    spy = Spy(good.classes, good.pre, good.coef, good.intercept)
    one = spy.predict_proba(np.array([[1.0, 2.0]]))
    assert one.dtype == np.float64
    assert one.tolist() == [[2.0, -1.0, -1.0]]
    assert spy.predict_proba([[1, 2]]).tolist() == [[2.0, -1.0, -1.0]]
    assert spy.predict_proba(np.ones((2, 2))).tolist() == [[-2.0] * 3] * 2
    assert spy.predict_proba(np.ones((0, 2))).shape == (0, 3)


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_fast_path_rejects_bad_shapes_and_non_finite_rows(iris, model: str) -> None:
    classifier = (
        LogisticRegression(max_iter=1000)
        if model == "logreg"
        else RandomForestClassifier(n_estimators=5)
    )
    fast = compile_fast_path(fit_iris(iris, StandardScaler(), classifier))
    assert fast is not None
    for X in (np.ones((2, 3)), np.ones(4), np.array([[1.0, 2.0, np.nan, 1.0]])):
        with pytest.raises(ValueError):
            fast.predict_proba(X)
    for row in ([1.0, 2.0, 3.0], [1.0, 2.0, float("inf"), 1.0]):
        with pytest.raises(ValueError):
            fast.predict_one(row)
