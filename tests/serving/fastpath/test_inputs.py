"""The verification rows: the contract's sample, random rows in bounds, rows around splits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from petalflow.core.contract import numeric_contract
from petalflow.serving.fastpath import (
    verification_inputs,
)
from tests.serving.fastpath.iris import (
    CONTRACT,
    NAMES,
    SMALL_CONTRACT,
    fit_iris,
)


@pytest.mark.parametrize(
    ("bounds", "rows", "low", "high"),
    [
        ({"gt": 0, "le": 100}, [[1.0], [3.0]], 0.0, 100.0),
        ({"ge": -2, "lt": 5}, [[1.0], [5.0]], -2.0, 5.0),
        ({}, [[0.0], [2.0]], -3.0, 5.0),  # std 1: 3 standard deviations past min and max
        ({"gt": 1}, [[0.0], [2.0]], 1.0, 5.0),
        ({"le": 1}, [[0.0], [2.0]], -3.0, 1.0),
        ({}, [[4.0], [4.0]], -96.0, 104.0),  # no spread: +-100
        ({}, [], -100.0, 100.0),
    ],
)
def test_verification_inputs_draws_rows_inside_the_bounds(
    bounds: dict, rows: list, low: float, high: float
) -> None:
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), ["x", "y", "x", "y"]
    pipeline = Pipeline([("s", StandardScaler()), ("c", LogisticRegression())]).fit(X, y)
    contract = numeric_contract("d", ["a"], ["x", "y"], "t", bounds, verification_rows=rows)
    drawn = verification_inputs(pipeline, contract)
    assert drawn.shape == (len(rows) + 2000, 1)
    assert drawn[: len(rows)].tolist() == rows
    sample = drawn[len(rows) :, 0]
    assert low < sample.min() < low + 0.02 * (high - low)
    assert high - 0.02 * (high - low) < sample.max() <= high
    assert verification_inputs(pipeline, contract, seed=0).tolist() == drawn.tolist()
    assert verification_inputs(pipeline, contract, seed=1)[len(rows) :].tolist() != (
        sample[:, None].tolist()
    )


def test_verification_inputs_adds_rows_a_few_ulps_around_splits(iris) -> None:
    pipeline = fit_iris(
        iris, StandardScaler(), RandomForestClassifier(n_estimators=1, random_state=0)
    )
    scaler, tree = pipeline.steps[0][1], pipeline.steps[1][1].estimators_[0].tree_
    splits = {
        (int(f), float(t)) for f, t in zip(tree.feature, tree.threshold, strict=True) if f >= 0
    }
    base = np.array(SMALL_CONTRACT.verification_rows)
    near = verification_inputs(pipeline, SMALL_CONTRACT)[len(base) + 2000 :]
    assert len(near) == 18 * min(100, len(splits))
    groups = near.reshape(-1, 18, 4)
    seen = set()
    for group in groups:
        up_rows = [
            f
            for f in range(4)
            if group[6:12, f].tolist() == np.nextafter(group[:6, f], np.inf).tolist()
        ]
        assert len(up_rows) == 1
        f = up_rows[0]
        base_others = {tuple(r) for r in np.delete(base, f, axis=1).tolist()}
        assert all(tuple(r) in base_others for r in np.delete(group, f, axis=1).tolist())
        x = group[:6, f]
        assert group[6:12, f].tolist() == np.nextafter(x, np.inf).tolist()
        assert group[12:, f].tolist() == np.nextafter(x, -np.inf).tolist()
        z = (x - scaler.mean_[f]) / scaler.scale_[f]
        t = next(t for g, t in splits if g == f and abs(t - z[0]) <= 1e-12 * max(1, abs(t)))
        seen.add((f, t))
        t32 = float(np.float32(t))
        up = float(np.nextafter(np.float32(t), np.float32(np.inf)))
        down = float(np.nextafter(np.float32(t), np.float32(-np.inf)))
        expected = [t, t32, up, down, (t32 + up) / 2, (t32 + down) / 2]
        assert z.tolist() == pytest.approx(expected, rel=0, abs=1e-12)
    assert seen == splits


def test_verification_inputs_samples_at_most_100_splits_of_a_known_pipeline(iris) -> None:
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    pipeline = fit_iris(iris, StandardScaler(), forest)
    assert len(verification_inputs(pipeline, SMALL_CONTRACT)) == 15 + 2000 + 18 * 100
    # PCA's splits have no raw value to sit near: no split rows.
    pipeline = fit_iris(iris, StandardScaler(), PCA(n_components=4), forest)
    assert len(verification_inputs(pipeline, SMALL_CONTRACT)) == 15 + 2000


def test_verification_inputs_anchors_split_rows_on_random_rows_without_a_sample(iris) -> None:
    pipeline = fit_iris(
        iris, StandardScaler(), RandomForestClassifier(n_estimators=1, random_state=0)
    )
    n_splits = int((pipeline.steps[1][1].estimators_[0].tree_.feature >= 0).sum())
    bare = numeric_contract("iris", NAMES, CONTRACT.classes, "species", {"gt": 0, "le": 100})
    drawn = verification_inputs(pipeline, bare)
    assert len(drawn) == 2000 + 18 * min(100, n_splits)
    assert ((drawn > 0) | (np.arange(len(drawn)) >= 2000)[:, None]).all()
