"""The shadow: sampling, the bounded queue, one predict call per drain, failure isolation,
swapping the model, and the contract check; on real trained models and a real log."""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from petalflow.core.contract import FeatureSpec, ModelContract
from petalflow.core.errors import ShadowError
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.observability.metrics import Telemetry
from petalflow.serving.loading import LoadedModel, load_from_artifacts
from petalflow.serving.predictor import Predictor, Scores
from petalflow.serving.shadow import Shadow, ShadowModel, contract_difference

ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.1, 2.8, 4.7, 1.2], [6.9, 3.1, 5.4, 2.1], [5.9, 3.0, 4.2, 1.5]]
)


class Spy(Predictor):
    """A real predictor that remembers the shape of each call."""

    def __init__(self, model: LoadedModel) -> None:
        super().__init__(model)
        self.calls: list[tuple[int, ...]] = []

    def predict(self, rows: np.ndarray) -> Scores:
        self.calls.append(rows.shape)
        return super().predict(rows)


class Failing(Spy):
    """A predictor whose model raises, like a shadow that cannot score these rows."""

    def __init__(self, model: LoadedModel) -> None:
        super().__init__(model)
        self.fail = True

    def predict(self, rows: np.ndarray) -> Scores:
        if self.fail:
            self.calls.append(rows.shape)
            raise ValueError("Input X contains NaN")
        return super().predict(rows)


@pytest.fixture(scope="module")
def champion(trained: Path) -> LoadedModel:
    return load_from_artifacts(trained)


@pytest.fixture(scope="module")
def challenger(trained_rf: Path) -> LoadedModel:
    return load_from_artifacts(trained_rf)


@pytest.fixture()
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(tmp_path / "p.db") as started:
        yield started


def counter(telemetry: Telemetry, name: str) -> float:
    """A counter's value, read from the exposition text as a scraper reads it."""
    text = telemetry.render().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"petalflow_{name}_total":
                return float(sample.value)
    raise AssertionError(f"no petalflow_{name}_total in /metrics")


def make_shadow(
    champion: LoadedModel,
    predictor: Predictor,
    log: PredictionLog,
    telemetry: Telemetry | None = None,
    **options: object,
) -> Shadow:
    telemetry = telemetry or Telemetry()
    telemetry.shadow_enabled = True
    model = ShadowModel(predictor.model, predictor)
    return Shadow(model, champion.contract, log, telemetry, **options)  # type: ignore[arg-type]


def renamed_first_feature(model: LoadedModel) -> ModelContract:
    """``model``'s contract with its first feature renamed ``sepal_len``: other features."""
    features = list(model.contract.features)
    features[0] = FeatureSpec(name="sepal_len", type="float")
    return model.contract.model_copy(update={"features": features})


def primary_answer(log: PredictionLog, champion: LoadedModel, request_id: str, rows: np.ndarray):
    labels, proba, _ = Predictor(champion).predict(rows)
    log.record(request_id, champion.model_version, rows, labels, champion.class_names, proba)
    return labels


def test_drain_scores_every_queued_request_in_one_predict_call(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    spy = Spy(challenger)
    shadow = make_shadow(champion, spy, log)
    requests = {"one": ROWS[:1], "batch": ROWS[1:], "again": ROWS[2:3]}
    for request_id, rows in requests.items():
        primary_answer(log, champion, request_id, rows)
        shadow.offer(request_id, rows)
    assert spy.calls == []  # nothing is scored on the request path
    assert shadow.drain() == 3
    assert spy.calls == [(5, 4)]
    assert log.flush()
    compared = log.shadow_compared(100, champion.model_version, challenger.model_version)
    expected: list[str] = []
    for rows in reversed(requests.values()):  # newest request first
        expected += [
            str(label) for label in challenger.pipeline.predict(challenger.codec.to_frame(rows))
        ]
    assert compared[1] == expected


def test_drain_splits_a_long_queue_into_calls_of_batch_rows(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    spy = Spy(challenger)
    shadow = make_shadow(champion, spy, log, batch_rows=5)
    for i in range(4):
        shadow.offer(f"r{i}", ROWS[:3])
    assert shadow.drain() == 4
    assert spy.calls == [(6, 4), (6, 4)]


def test_the_shadow_logs_its_own_probabilities(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    shadow = make_shadow(champion, Predictor(challenger), log)
    primary_answer(log, champion, "b", ROWS)
    shadow.offer("b", ROWS)
    shadow.drain()
    assert log.flush()
    with log._connection() as conn:
        found = conn.execute("SELECT probabilities FROM shadow_predictions").fetchone()
    # float64, row-major (schema version 4), decoded with struct: not the log's code.
    proba = np.array(struct.unpack(f"<{len(found[0]) // 8}d", found[0])).reshape(len(ROWS), -1)
    expected = challenger.pipeline.predict_proba(challenger.codec.to_frame(ROWS))
    np.testing.assert_allclose(proba, expected, rtol=1e-6)


@pytest.mark.parametrize("sample", [0.0, 0.25, 0.5])
def test_offer_samples_the_share_of_requests_the_seeded_draws_give(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog, sample: float
) -> None:
    spy = Spy(challenger)
    shadow = make_shadow(champion, spy, log, sample=sample, rng=random.Random(7))
    for i in range(200):
        shadow.offer(f"r{i}", ROWS[:1])
    draws = random.Random(7)
    expected = sum(draws.random() < sample for _ in range(200))
    assert shadow.drain() == expected
    assert (0 < expected < 200) == (sample > 0)


def test_a_full_queue_drops_and_counts(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    telemetry = Telemetry()
    shadow = make_shadow(champion, Predictor(challenger), log, telemetry, max_pending=3)
    for i in range(5):
        shadow.offer(f"r{i}", ROWS[:1])
    assert counter(telemetry, "shadow_dropped") == 2
    assert shadow.drain() == 3


def test_a_failing_shadow_is_counted_logged_once_and_scoring_goes_on(
    champion: LoadedModel,
    challenger: LoadedModel,
    log: PredictionLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Telemetry()
    failing = Failing(challenger)
    shadow = make_shadow(champion, failing, log, telemetry)
    with caplog.at_level(logging.DEBUG, logger="petalflow.serving.shadow"):
        for drain in range(3):
            for i in range(2):
                shadow.offer(f"d{drain}-{i}", ROWS[:2])
            assert shadow.drain() == 0
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "failed to score 2 requests" in errors[0].getMessage()
        assert counter(telemetry, "shadow_failures") == 6
        failing.fail = False
        shadow.offer("back", ROWS[:2])
        assert shadow.drain() == 1
    recovered = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("scores again, after 6 failed requests" in m for m in recovered)
    assert not shadow.failing


def test_the_thread_keeps_scoring_after_a_failure(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    failing = Failing(challenger)
    shadow = make_shadow(champion, failing, log, interval=0.01)
    shadow.start()
    try:
        shadow.offer("bad", ROWS[:1])
        _wait(lambda: len(failing.calls) == 1)
        failing.fail = False
        primary_answer(log, champion, "good", ROWS[:1])
        shadow.offer("good", ROWS[:1])
    finally:
        shadow.close()  # scores what is queued before it stops
    assert log.flush()
    compared = log.shadow_compared(10, champion.model_version, challenger.model_version)
    assert len(compared[1]) == 1


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_swap_scores_the_next_batch_with_the_new_model(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    shadow = make_shadow(champion, Predictor(challenger), log)
    primary_answer(log, champion, "before", ROWS[:1])
    shadow.offer("before", ROWS[:1])
    shadow.drain()
    shadow.swap(champion, Predictor(champion))
    assert shadow.model is champion
    primary_answer(log, champion, "after", ROWS[:1])
    shadow.offer("after", ROWS[:1])
    shadow.drain()
    assert log.flush()
    versions = log.shadow_version_pairs()
    assert {(p, s) for p, s, _ in versions} == {
        (champion.model_version, challenger.model_version),
        (champion.model_version, champion.model_version),
    }


def test_swap_refuses_a_model_of_other_features_and_keeps_the_old(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    shadow = make_shadow(champion, Predictor(challenger), log)
    stranger = dataclasses.replace(challenger, contract=renamed_first_feature(challenger))
    with pytest.raises(ShadowError, match=r"cannot shadow the served model: the served model"):
        shadow.swap(stranger, Predictor(challenger))
    assert shadow.model is challenger


FLOAT = FeatureSpec(name="x", type="float")


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        (FLOAT, FLOAT, None),
        (FLOAT, FeatureSpec(name="y"), r"features are \['x', .*\], the shadow's \['y', "),
        (
            FeatureSpec(name="x", type="int"),
            FLOAT,
            r"feature 'x' is int in the served model but float in the shadow",
        ),
        (
            FeatureSpec(name="x", type="category", categories=["a", "b"]),
            FeatureSpec(name="x", type="category", categories=["b", "a"]),
            r"categories \['a', 'b'\] in the served model but \['b', 'a'\] in the shadow",
        ),
    ],
)
def test_contract_difference_names_what_differs(
    champion: LoadedModel, ours: FeatureSpec, theirs: FeatureSpec, expected: str | None
) -> None:
    rest = list(champion.contract.features)[1:]
    primary = champion.contract.model_copy(update={"features": [ours, *rest]})
    shadow = champion.contract.model_copy(update={"features": [theirs, *rest]})
    found = contract_difference(primary, shadow)
    if expected is None:
        assert found is None
    else:
        assert found is not None and re.search(expected, found), found


def test_rebase_refuses_a_served_model_the_shadow_cannot_take_and_keeps_the_old(
    champion: LoadedModel, challenger: LoadedModel, log: PredictionLog
) -> None:
    shadow = make_shadow(champion, Predictor(challenger), log)
    other = renamed_first_feature(champion)
    with pytest.raises(ShadowError, match=r"cannot be served beside the shadow model .*sepal_len"):
        shadow.rebase(other)
    shadow.swap(challenger, Predictor(challenger))  # still checked against the champion's
    shadow.rebase(champion.contract)
    assert shadow.model is challenger
