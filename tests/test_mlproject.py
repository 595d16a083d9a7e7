"""MLproject mirrors train.py: same parameters, same defaults (one source of truth)."""

import pytest
import yaml

import train
from tests.conftest import ROOT


def _mlproject_parameters() -> dict[str, dict[str, object]]:
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    assert spec["conda_env"] == "conda.yaml"
    return spec["entry_points"]["main"]["parameters"]


def test_mlproject_defaults_equal_train_defaults() -> None:
    parser = train.build_parser()
    for name, spec in _mlproject_parameters().items():
        default = parser.get_default(name)
        expected = "none" if default is None else default
        assert spec["default"] == expected, name
        # The value MLflow passes on must parse back to the same default.
        action = next(a for a in parser._actions if a.dest == name)
        assert action.type(str(spec["default"])) == default if action.type else True


def test_mlproject_maps_every_parameter_to_its_flag() -> None:
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    command = spec["entry_points"]["main"]["command"]
    for name in _mlproject_parameters():
        flag = "--" + name.replace("_", "-")
        assert f"{flag} {{{name}}}" in command
    expected = {
        "dataset",
        "seed",
        "test_size",
        "model",
        "C",
        "max_iter",
        "n_estimators",
        "max_depth",
        "register_model",
        "alias",
        "artifacts_dir",
    }
    assert set(_mlproject_parameters()) == expected


def test_mlproject_contract_entry_point_mirrors_contract_infer() -> None:
    from petalflow.__main__ import build_contract_parser

    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["contract"]
    parser = build_contract_parser()
    assert set(spec["parameters"]) == {"data", "target", "drop", "output"}
    assert "python -m petalflow contract infer {data}" in spec["command"]
    for name in ("target", "drop", "output"):
        assert f"--{name} {{{name}}}" in spec["command"]
    for name in ("drop", "output"):
        assert spec["parameters"][name]["default"] == "none"
        assert parser.get_default(name) is None


# The flag that `mlflow run` decides (as for main): the run's experiment.
NOT_MIRRORED = {"experiment_name"}


def test_mlproject_tune_entry_point_mirrors_the_tune_flags() -> None:
    from petalflow.training.tune_command import build_tune_parser

    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["tune"]
    parser = build_tune_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert set(spec["parameters"]) == dests - NOT_MIRRORED
    assert spec["command"].startswith("python -m petalflow tune")
    for name, parameter in spec["parameters"].items():
        assert f"--{name.replace('_', '-')} {{{name}}}" in spec["command"]
        default = parser.get_default(name)
        assert parameter["default"] == ("none" if default is None else default), name
        action = next(a for a in parser._actions if a.dest == name)
        if action.type is not None:
            assert action.type(str(parameter["default"])) == default, name


@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_mlproject_promotion_entry_points_mirror_their_flags(command: str) -> None:
    from petalflow.training.promotion_command import build_promote_parser, build_rollback_parser

    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"][command]
    parser = build_promote_parser() if command == "promote" else build_rollback_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert set(spec["parameters"]) == dests
    assert spec["command"].startswith(f"python -m petalflow {command}")
    for name, parameter in spec["parameters"].items():
        assert f"--{name.replace('_', '-')} {{{name}}}" in spec["command"]
        default = parser.get_default(name)
        if default is None and name == "model_name":  # required: no default on either side
            assert "default" not in parameter
            continue
        assert parameter["default"] == ("none" if default is None else default), name


def test_mlproject_monitor_entry_point_mirrors_the_monitor_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from petalflow.monitoring.report import build_parser

    for var in ("PREDICTION_LOG", "ARTIFACTS_DIR", "DRIFT_WINDOW", "DRIFT_MIN_SAMPLES"):
        monkeypatch.delenv(var, raising=False)
    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["monitor"]
    parser = build_parser()
    dests = {a.dest for a in parser._actions if a.dest not in ("help", "json")}
    assert set(spec["parameters"]) == dests
    assert spec["command"].startswith("python -m petalflow monitor")
    for name, parameter in spec["parameters"].items():
        assert f"--{name.replace('_', '-')} {{{name}}}" in spec["command"]
        action = next(a for a in parser._actions if a.dest == name)
        parsed = action.type(str(parameter["default"])) if action.type else parameter["default"]
        default = parser.get_default(name)
        assert parsed == default, name
        assert isinstance(default, (str, int, Path)) or default is None


def test_mlproject_export_entry_point_mirrors_the_monitor_export_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from petalflow.monitoring.log_export import build_export_parser

    monkeypatch.delenv("PREDICTION_LOG", raising=False)
    spec = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["export"]
    parser = build_export_parser()
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert set(spec["parameters"]) == dests
    assert spec["command"].startswith("python -m petalflow monitor export --")
    for name, parameter in spec["parameters"].items():
        assert f"--{name.replace('_', '-')} {{{name}}}" in spec["command"]
        default = parser.get_default(name)
        # "none" is MLproject's spelling of unset (stdout for --output).
        assert parameter["default"] == ("none" if default is None else default), name
