"""unscorable: the number a model's scaling overflows, named for a 422; oracle: the
fitted scaler's own arithmetic, and scikit-learn refusing the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.core.contract import ModelContract
from petalflow.serving.model_range import unscorable

CONTRACT = ModelContract(
    dataset="d", features=[{"name": "a"}, {"name": "b"}], target="t", classes=["x", "y"]
)
X = np.array([[0.0, 10.0], [0.02, 20.0], [0.04, 30.0], [0.06, 40.0]])  # a's scale ~0.022
Y = np.array(["x", "x", "y", "y"])
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _fitted(classifier: object) -> object:
    return make_pipeline(StandardScaler(), classifier).fit(X, Y)


def test_unscorable_names_the_feature_and_row_a_forests_float32_overflows() -> None:
    pipeline = _fitted(RandomForestClassifier(n_estimators=3, random_state=0))
    scaler = pipeline[0]
    edge = scaler.mean_[0] + FLOAT32_MAX * scaler.scale_[0]  # by hand: where float32 ends
    rows = np.array([[0.01, 15.0], [edge * 1.01, 15.0]])
    with pytest.raises(ValueError, match="float32"):  # scikit-learn refuses them too
        pipeline.predict_proba(rows)
    error = unscorable(pipeline, CONTRACT, rows)
    assert error is not None and error.status == 422
    assert error.details[0]["field"] == "a" and error.details[0]["rule"] == "model_range"
    assert error.message.startswith(
        f"row 1, a: {edge * 1.01:g} is out of the range this model can score: scaled by its "
        "training data it must fit a float32, as the forest's trees compare it "
        f"(from {scaler.mean_[0] - FLOAT32_MAX * scaler.scale_[0]:.6g} to {edge:.6g})"
    )
    assert unscorable(pipeline, CONTRACT, np.array([[edge * 0.99, 15.0]])) is None


def test_unscorable_does_not_blame_a_float32_overflow_on_a_linear_model() -> None:
    """Logistic regression scales in float64: a value past float32's range is not why it
    failed, and saying so would hide the real error (a 500 to investigate)."""
    pipeline = _fitted(LogisticRegression())
    rows = np.array([[1e37, 15.0]])  # scaled: ~4.5e38, past float32, fine as a float64
    assert pipeline.predict_proba(rows).shape == (1, 2)
    assert unscorable(pipeline, CONTRACT, rows) is None
    overflowing = np.array([[1e307, 15.0]])  # scaled: past float64
    error = unscorable(pipeline, CONTRACT, overflowing)
    assert error is not None and "it must fit a float64" in error.message
