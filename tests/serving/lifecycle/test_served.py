"""The served model: prepared and warmed before it serves, and read once per request, so
that a swap in the middle of a request never mixes two models in its answer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from petalflow.core.contract import ModelContract, numeric_contract
from petalflow.core.errors import ModelLoadError
from petalflow.observability.metrics import Telemetry
from petalflow.serving.handlers import DataPlane
from petalflow.serving.lifecycle.isolation import in_child
from petalflow.serving.lifecycle.served import ServedModel, contract_change, prepare
from petalflow.serving.loading import load_from_artifacts
from tests.conftest import make_settings, pipeline_answer

ROW = {"sepal_length": 6.0, "sepal_width": 2.7, "petal_length": 5.1, "petal_width": 1.6}


class BrokenPipeline:
    classes_ = np.array(["setosa", "versicolor", "virginica"])

    def predict_proba(self, frame: Any) -> np.ndarray:
        raise RuntimeError("this pipeline cannot predict")


def test_prepare_refuses_a_model_that_cannot_predict_its_verification_rows(
    trained: Path,
) -> None:
    broken = dataclasses.replace(load_from_artifacts(trained), pipeline=BrokenPipeline())
    settings = make_settings(trained, fast_path=False)
    with pytest.raises(ModelLoadError, match="cannot predict its own verification rows"):
        prepare(broken, None, settings)


def test_prepare_builds_everything_from_the_new_model(trained: Path, trained_rf: Path) -> None:
    settings = make_settings(trained)
    served = prepare(load_from_artifacts(trained_rf), None, settings)
    info = json.loads((trained_rf / "model_info.json").read_text())
    assert served.version == info["run_id"] == served.monitor.model.model_version
    assert served.classes == info["class_names"]
    assert served.predictor.fast is not None  # verified exact, as for a reload
    assert served.info_labels()["model_version"] == info["run_id"]
    assert served.info_labels()["registered_model"] == ""


def test_prepare_in_a_child_serves_the_pipelines_probabilities(trained_rf: Path) -> None:
    """A reload decodes the model and verifies its fast path in child processes; what
    comes back is the same forest, its fast path verified exact."""
    loaded = load_from_artifacts(trained_rf, run=in_child)
    served = prepare(loaded, None, make_settings(trained_rf), run=in_child)
    assert served.predictor.fast is not None and served.predictor.fast.kind == "rf"
    row = np.array([[ROW[name] for name in served.loaded.feature_names]], dtype=np.float64)
    want = pipeline_answer(trained_rf, ROW)
    for scores in (served.predictor.predict(row), served.predictor.predict(np.repeat(row, 3, 0))):
        for proba in scores.proba:
            got = dict(zip(served.classes, proba.tolist(), strict=True))
            assert got == pytest.approx(want, abs=1e-12)


class SwapDuringPredict:
    """A predictor that swaps the plane's model in the middle of its own prediction."""

    def __init__(self, served: ServedModel, plane: list[DataPlane], then: ServedModel) -> None:
        self.inner, self.plane, self.then = served.predictor, plane, then
        self.classes, self.fast = served.predictor.classes, served.predictor.fast

    def predict(self, rows: np.ndarray) -> Any:
        self.plane[0].swap(self.then)
        return self.inner.predict(rows)


@pytest.mark.parametrize("operation", ["predict", "predict_batch", "invocations"])
def test_a_request_finishes_on_the_model_it_started_with(
    trained: Path, trained_rf: Path, operation: str
) -> None:
    settings = make_settings(trained)
    first = prepare(load_from_artifacts(trained), None, settings)
    second = prepare(load_from_artifacts(trained_rf), None, settings)
    holder: list[DataPlane] = []
    swapping = dataclasses.replace(
        first,
        predictor=SwapDuringPredict(first, holder, second),  # type: ignore[arg-type]
    )
    plane = DataPlane(swapping, Telemetry(), settings)
    holder.append(plane)
    body = {
        "predict": ROW,
        "predict_batch": {"instances": [ROW]},
        "invocations": {"dataframe_records": [ROW]},
    }[operation]
    answer = getattr(plane, operation)(json.dumps(body).encode(), "req-1")
    assert plane.served is second  # swapped while the request ran
    assert answer.model_version == first.version
    content = json.loads(answer.content)
    if operation == "predict":
        assert content["model_version"] == first.version
        assert content["class_probabilities"] == pytest.approx(
            pipeline_answer(trained, ROW), abs=1e-12
        )
    # The next request is answered by the new model.
    after = json.loads(plane.predict(json.dumps(ROW).encode(), "req-2").content)
    assert after["model_version"] == second.version
    assert after["class_probabilities"] == pytest.approx(
        pipeline_answer(trained_rf, ROW), abs=1e-12
    )
    assert pipeline_answer(trained, ROW) != pytest.approx(
        pipeline_answer(trained_rf, ROW), abs=1e-3
    )


def _contract(names: list[str], classes: list[str], **bounds: float) -> ModelContract:
    return numeric_contract("d", names, classes, "t", bounds, description="anything")


@pytest.mark.parametrize(
    ("new", "change"),
    [
        (_contract(["a", "b"], ["x", "y"], ge=0), None),
        (_contract(["a"], ["x", "y"], ge=0), "features removed: b"),
        (_contract(["a", "b", "c"], ["x", "y"], ge=0), "features added: c"),
        (_contract(["b", "a"], ["x", "y"], ge=0), "features reordered"),
        (
            _contract(["a", "b"], ["x", "y"], ge=1),
            "rules changed (type, bounds, categories, nulls): a, b",
        ),
        (_contract(["a", "b"], ["x", "z"], ge=0), "classes ['x', 'y'] -> ['x', 'z']"),
        (
            _contract(["a", "c"], ["x", "y"], ge=0),
            "features removed: b; features added: c",
        ),
    ],
)
def test_contract_change_names_what_a_client_would_find_changed(
    new: ModelContract, change: str | None
) -> None:
    assert contract_change(_contract(["a", "b"], ["x", "y"], ge=0), new) == change


def test_contract_change_ignores_descriptions_and_names_a_new_target() -> None:
    old = _contract(["a"], ["x", "y"])
    described = ModelContract.model_validate(
        {
            **old.model_dump(),
            "features": [{**old.features[0].model_dump(), "description": "cm"}],
        }
    )
    assert contract_change(old, described) is None
    retargeted = ModelContract.model_validate({**old.model_dump(), "target": "u"})
    assert contract_change(old, retargeted) == "target t -> u"
