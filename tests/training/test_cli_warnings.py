"""train.py warns about a flag given for the other model (it is recorded, not used)."""

from __future__ import annotations

from pathlib import Path

import pytest

import train
from petalflow.training.config import ignored_flag_warnings


def warnings_for(*argv: str, only_changed: bool = False) -> list[str]:
    parser = train.build_parser()
    model = parser.parse_args(list(argv)).model
    return ignored_flag_warnings(parser, list(argv), model, only_changed=only_changed)


def test_train_logs_one_warning_for_a_rf_flag_with_logreg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train.main(["--artifacts-dir", str(tmp_path / "a"), "--n-est", "5"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "WARNING" in line]
    assert len(lines) == 1, out
    assert lines[0].endswith(
        "--n-estimators applies to rf; ignored by logreg (still recorded in params.json)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--model", "rf", "--C", "2"], ["--C applies to logreg; ignored by rf"]),
        (["--model=rf", "--max-iter=50"], ["--max-iter applies to logreg; ignored by rf"]),
        (["--max-depth", "3"], ["--max-depth applies to rf; ignored by logreg"]),
        (["--max-d", "none"], ["--max-depth applies to rf; ignored by logreg"]),
        (
            ["--n-estimators", "200", "--model", "logreg", "--max-depth", "4"],
            [
                "--n-estimators applies to rf; ignored by logreg",
                "--max-depth applies to rf; ignored by logreg",
            ],
        ),
    ],
)
def test_explicit_flags_of_the_other_model_are_named(argv: list[str], expected: list[str]) -> None:
    assert [w.split(" (")[0] for w in warnings_for(*argv)] == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--model", "rf"],
        ["--model", "rf", "--n-estimators", "10", "--max-depth", "3"],
        ["--C", "0.5", "--max-iter", "10"],
        ["--seed", "1", "--test-size", "0.3"],
    ],
)
def test_no_warning_for_defaults_or_flags_of_the_chosen_model(argv: list[str]) -> None:
    assert warnings_for(*argv) == []


def test_under_mlflow_run_only_changed_values_warn() -> None:
    # `mlflow run` passes every flag; the defaults it passes are not the user's choice.
    argv = ["--model", "rf", "--C", "1.0", "--max-iter", "5", "--n-estimators", "200"]
    assert [w.split(" (")[0] for w in warnings_for(*argv, only_changed=True)] == [
        "--max-iter applies to logreg; ignored by rf"
    ]
