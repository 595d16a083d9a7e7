"""The spaces tune searches, and the classifiers their draws become."""

from __future__ import annotations

import optuna
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from petalflow.training import search_space


@pytest.mark.parametrize("model", ["logreg", "rf"])
def test_suggest_draws_every_parameter_inside_its_range(model: str) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = search_space.suggest(trial, model)
        assert set(params) == set(search_space.SPACES[model])
        for name, value in params.items():
            assert search_space.SPACES[model][name]._contains(
                search_space.SPACES[model][name].to_internal_repr(value)
            )
        search_space.classifier(model, params, 0)  # every draw builds
        study.tell(trial, 0.0)


def test_classifier_maps_the_spelled_values() -> None:
    logreg = search_space.classifier("logreg", {"C": 0.5, "class_weight": "none"}, 3)
    assert isinstance(logreg, LogisticRegression)
    assert (logreg.C, logreg.class_weight, logreg.random_state) == (0.5, None, 3)
    forest = search_space.classifier(
        "rf",
        {"n_estimators": 12, "max_depth": "4", "min_samples_leaf": 2, "max_features": "all"},
        5,
    )
    assert isinstance(forest, RandomForestClassifier)
    params = forest.get_params()
    assert (params["n_estimators"], params["max_depth"], params["max_features"]) == (12, 4, None)
    assert (params["min_samples_leaf"], params["random_state"], params["n_jobs"]) == (2, 5, 1)
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        search_space.classifier("svm", {}, 0)


def test_describe_spells_each_range() -> None:
    assert search_space.describe("logreg") == {
        "space_C": "float log [0.001, 1000]",
        "space_class_weight": "one of none, balanced",
    }
    assert search_space.describe("rf")["space_n_estimators"] == "int log [10, 300]"
