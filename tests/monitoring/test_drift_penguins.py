"""Drift of a contract with categories and gaps (issue #13, point 6), on the real penguins
table: traffic resampled from it raises no alert; the same traffic with ``island`` fixed
to one value alerts on ``island``. Checked on the drift report, through the Monitor over a
prediction log (encoded rows, gaps stored as JSON null), its /metrics gauges, and the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from petalflow.core.codec import RowCodec
from petalflow.core.contract import ModelContract
from petalflow.core.model_card import ModelCard
from petalflow.core.reference import reference_stats
from petalflow.monitoring import drift
from petalflow.monitoring.checks import Monitor, MonitoringCollector
from petalflow.monitoring.prediction_log import PredictionLog
from petalflow.monitoring.settings import MonitoringSettings
from petalflow.training.config import TrainConfig
from petalflow.training.data import model_contract, prepare
from petalflow.training.pipeline import build_pipeline
from tests.conftest import ROOT

WINDOW = 500
SEEDS = range(20)
ISLANDS = ["Biscoe", "Dream", "Torgersen"]
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CONFIG = TrainConfig(
    seed=42,
    test_size=0.2,
    model="logreg",
    C=1.0,
    max_iter=1000,
    n_estimators=200,
    max_depth=None,
    artifacts_dir="a",
    experiment_name="penguins",
    register_model=None,
    alias=None,
    dataset="penguins",
)


@dataclass
class Penguins:
    """The whole table, the contract and reference of the default split, a fitted model."""

    X: pd.DataFrame
    contract: ModelContract
    reference: dict[str, Any]
    model: Pipeline

    def __post_init__(self) -> None:
        self._rows: dict[str | None, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def rows(self, island: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row of the table, encoded, with the model's label and probabilities
        (``island`` set to one value for every row if given); cached."""
        if island not in self._rows:
            frame = self.X.copy()
            if island is not None:
                frame["island"] = island
            proba = self.model.predict_proba(frame)
            labels = np.asarray([str(c) for c in self.model.classes_])[proba.argmax(axis=1)]
            self._rows[island] = (RowCodec(self.contract).encode_frame(frame), labels, proba)
        return self._rows[island]


@pytest.fixture(scope="module")
def penguins() -> Penguins:
    dataset = prepare("penguins", test_size=0.2, seed=42)
    contract = model_contract(dataset, sorted(set(dataset.y)))
    split = dataset.split
    model = build_pipeline(CONFIG, contract.features).fit(split.X_train, split.y_train)
    return Penguins(dataset.X, contract, reference_stats(split.X_train, split.y_train), model)


def window(seed: int, n: int = WINDOW) -> np.ndarray:
    """Row numbers of ``n`` rows drawn with replacement from the 344 of the table."""
    return np.random.default_rng(seed).integers(0, 344, n)


def traffic(penguins: Penguins, seed: int, island: str | None = None) -> dict[str, Any]:
    """The drift report of one window (``island`` fixed if given)."""
    rows, labels, _ = penguins.rows(island)
    picked = window(seed)
    contract = penguins.contract
    return drift.drift_report(
        penguins.reference,
        rows[picked],
        labels[picked].tolist(),
        contract.feature_names,
        specs=contract.features,
    )


def test_the_table_has_categories_and_gaps_in_encoded_rows(penguins: Penguins) -> None:
    rows, _, _ = penguins.rows()
    kinds = {f.name: (f.type, f.nullable) for f in penguins.contract.features}
    assert kinds["island"] == ("category", False) and kinds["sex"] == ("category", True)
    assert np.isnan(rows).any(axis=0).tolist() == [False, True, True, True, True, True]


def test_unshifted_penguins_traffic_raises_no_alert_on_seeds_0_to_19(penguins: Penguins) -> None:
    for seed in SEEDS:
        report = traffic(penguins, seed)
        assert report["status"] != "alert", seed
        assert {f["status"] for f in report["features"].values()} == {"ok"}, seed


@pytest.mark.parametrize("island", ISLANDS)
def test_island_fixed_to_one_value_alerts_on_island(penguins: Penguins, island: str) -> None:
    for seed in SEEDS:
        report = traffic(penguins, seed, island)
        assert report["status"] == "alert", seed
        statuses = {name: f["status"] for name, f in report["features"].items()}
        assert statuses == {**dict.fromkeys(statuses, "ok"), "island": "alert"}, seed
        entry = report["features"]["island"]
        assert entry["live_distribution"][island] == 1.0
        assert entry["psi"] >= drift.PSI_ALERT and entry["chi2_significant"] is True


def test_report_entries_of_penguins_by_column_type(penguins: Penguins) -> None:
    report = traffic(penguins, 0)
    assert report["thresholds"]["ks_alpha_corrected"] == pytest.approx(0.01 / 11)  # 6 + 5
    features = report["features"]
    assert [features[name]["kind"] for name in penguins.contract.feature_names] == [
        "category",
        *["numeric"] * 4,
        "category",
    ]
    assert "missing_rate" not in features["island"]  # not nullable
    for name in [*NUMERIC, "sex"]:
        assert {"missing_rate", "reference_missing_rate", "missing_pvalue"} <= set(features[name])
    assert features["sex"]["reference_missing_rate"] == 11 / 275  # the training split's gaps
    assert set(features["sex"]["live_distribution"]) == {"female", "male"}
    assert json.loads(json.dumps(report)) == report


@pytest.mark.slow
def test_unshifted_penguins_traffic_matches_documented_rate_on_200_seeds(
    penguins: Penguins,
) -> None:
    # The package docstring: 200 windows of 500 rows raise no alert and flag no feature;
    # the 4 warns (2 %) all come from the predicted-class check.
    reports = [traffic(penguins, seed) for seed in range(200)]
    statuses = [report["status"] for report in reports]
    assert statuses.count("alert") == 0
    assert statuses.count("warn") == 4
    assert all(r["prediction"]["status"] == "warn" for r in reports if r["status"] == "warn")
    features = [f for report in reports for f in report["features"].values()]
    assert {f["status"] for f in features} == {"ok"}
    assert max(f["psi"] for f in features) < drift.PSI_WARN
    assert max(abs(f.get("missing_rate_shift", 0.0)) for f in features) < drift.MISSING_WARN


# --- through the Monitor: the prediction log, /metrics gauges, the CLI --------------------


def card(penguins: Penguins) -> ModelCard:
    return ModelCard(
        model_version="penguins-1",
        run_id="penguins-1",
        source="test",
        sha256=None,
        contract=penguins.contract,
        metrics={"accuracy": 0.99, "f1_macro": 0.99},
        reference=penguins.reference,
    )


def fill_log(penguins: Penguins, path: Path, island: str | None) -> None:
    """One window of 500 rows logged as 5 batches of 100, as the server logs them."""
    rows, labels, proba = penguins.rows(island)
    picked = window(3)
    settings = MonitoringSettings(prediction_log=str(path))
    with PredictionLog(path) as log:
        monitor = Monitor(card(penguins), log, settings)
        for k in range(5):
            part = picked[100 * k : 100 * (k + 1)]
            monitor.record(f"batch-{k}", rows[part], labels[part].tolist(), proba[part])
        assert log.flush()


@pytest.mark.parametrize("island", [None, "Dream"])
def test_monitor_drift_and_gauges_over_the_prediction_log(
    penguins: Penguins, tmp_path: Path, island: str | None
) -> None:
    path = tmp_path / "p.db"
    fill_log(penguins, path, island)
    with PredictionLog(path) as log:
        monitor = Monitor(card(penguins), log, MonitoringSettings(prediction_log=str(path)))
        report = monitor.drift()
        families = {f.name: f for f in MonitoringCollector(monitor).collect()}
    # Gaps went to the log as JSON null and came back as NaN: the same report as in memory.
    assert {k: report[k] for k in ("status", "features")} == {
        k: traffic_of(penguins, island)[k] for k in ("status", "features")
    }
    assert report["features"]["island"]["status"] == ("ok" if island is None else "alert")

    def samples(family: str) -> dict[tuple[str, ...], float]:
        return {tuple(s.labels.values()): s.value for s in families[family].samples}

    names = penguins.contract.feature_names
    assert set(samples("petalflow_feature_drift_psi")) == {(n,) for n in names}
    assert (
        samples("petalflow_feature_drift_psi")[("island",)] == report["features"]["island"]["psi"]
    )
    assert set(samples("petalflow_feature_drift_ks_pvalue")) == {(n,) for n in NUMERIC}
    chi2 = samples("petalflow_feature_drift_chi2_pvalue")
    assert chi2 == {(n,): report["features"][n]["chi2_pvalue"] for n in ("island", "sex")}
    missing = samples("petalflow_feature_missing_rate")
    assert set(missing) == {(n, d) for n in [*NUMERIC, "sex"] for d in ("live", "training")}
    assert missing[("sex", "training")] == 11 / 275
    assert missing[("sex", "live")] == report["features"]["sex"]["missing_rate"]
    status = samples("petalflow_drift_status")
    assert status[("island",)] == (0 if island is None else 2)


def traffic_of(penguins: Penguins, island: str | None) -> dict[str, Any]:
    """The in-memory report of the window fill_log logs."""
    rows, labels, _ = penguins.rows(island)
    picked = window(3)
    contract = penguins.contract
    return drift.drift_report(
        penguins.reference,
        rows[picked],
        labels[picked].tolist(),
        contract.feature_names,
        specs=contract.features,
    )


def write_artifacts(penguins: Penguins, directory: Path) -> None:
    """The JSON artifacts the monitor reads for the version that served the traffic."""
    directory.mkdir()
    contract = penguins.contract
    files = {
        "model_info.json": {
            "run_id": "penguins-1",
            "class_names": contract.classes,
            "feature_names": contract.feature_names,
        },
        "contract.json": contract.to_json(),
        "reference_stats.json": penguins.reference,
        "metrics.json": {"accuracy": 0.99, "f1_macro": 0.99},
    }
    for name, document in files.items():
        (directory / name).write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("command", "island", "code"),
    [("petalflow.monitor", None, 0), ("petalflow", "Torgersen", 1)],
)
def test_monitor_cli_judges_a_penguins_log(
    penguins: Penguins, tmp_path: Path, command: str, island: str | None, code: int
) -> None:
    path, artifacts = tmp_path / "p.db", tmp_path / "artifacts"
    fill_log(penguins, path, island)
    write_artifacts(penguins, artifacts)
    args = ["monitor"] if command == "petalflow" else []
    common = ["--prediction-log", str(path), "--artifacts-dir", str(artifacts)]
    result = subprocess.run(
        [sys.executable, "-m", command, *args, *common],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr
    lines = {line.split(":")[0].strip(): line for line in result.stdout.splitlines()}
    assert f"island: {'ok' if island is None else 'alert'} (category, psi " in lines["island"]
    assert "chi2 p" in lines["island"] and "missing" not in lines["island"]
    assert "sex: ok (category, psi " in lines["sex"] and "; missing " in lines["sex"]
    assert "(training 4.0%" in lines["sex"]
    assert "(numeric, psi " in lines["body_mass_g"] and "ks p" in lines["body_mass_g"]
    as_json = subprocess.run(
        [sys.executable, "-m", command, *args, *common, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert as_json.returncode == code
    report = json.loads(as_json.stdout)["drift"]
    assert report["features"]["island"]["kind"] == "category"
    assert report["features"]["sex"]["reference_missing_rate"] == 11 / 275
