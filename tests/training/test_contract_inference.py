"""`python -m petalflow contract infer`: types and gaps read from the CSV; the result trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from petalflow.__main__ import COMMANDS, main
from petalflow.training import data
from petalflow.training.contract_inference import infer_contract, infer_feature
from tests.conftest import ROOT, train_into
from tests.training.conftest import write_csv


def test_infer_types_each_column_and_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(tmp_path / "levels.csv")
    output = tmp_path / "contracts" / "levels.yaml"
    output.parent.mkdir()
    assert main(["contract", "infer", str(csv), "--target", "level", "--output", str(output)]) == 0
    assert "'row id' has 240 distinct text values" in capsys.readouterr().err
    document = yaml.safe_load(output.read_text())
    assert document["source"] == "../levels.csv"
    assert document["target"] == "level" and document["drop"] == ["row id"]
    features = {f["name"]: f for f in document["features"]}
    assert {n: f["type"] for n, f in features.items()} == {
        "tenure months": "int",
        "größe": "float",
        "plan": "category",
        "active": "bool",
        "score": "float",
    }
    assert [n for n, f in features.items() if f.get("nullable")] == ["score"]
    assert features["plan"]["categories"] == ["basic", "plus", "pro"]
    assert isinstance(features["tenure months"]["ge"], int)
    folder = train_into(tmp_path / "artifacts", "--dataset", str(output))
    assert (folder / "contract.json").is_file()


@pytest.mark.parametrize("classes", [1, 2])
def test_infer_warns_of_a_target_with_one_class(
    classes: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training refuses a one-class target: the contract is still printed, with a warning."""
    csv = tmp_path / "t.csv"
    levels = (["a", "b"][:classes] * 6)[:6]
    pd.DataFrame({"x": [1.0, 2.5, 3.0, 4.5, 5.0, 6.5], "y": levels}).to_csv(csv, index=False)
    assert main(["contract", "infer", str(csv), "--target", "y"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["target"] == "y"
    warning = (
        "contract infer: the target 'y' has 1 class(es) ['a']: a classifier needs at least 2, "
        "so training will refuse this table as it is"
    )
    assert (warning in err) == (classes == 1)


@pytest.mark.parametrize("where", ["levels.csv", "data/levels.csv"])
def test_infer_to_stdout_says_where_the_contract_must_be_saved(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / where)
    monkeypatch.chdir(tmp_path)
    assert main(["contract", "infer", where, "--target", "level"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["source"] == where
    note = f"source {where} is relative to this folder: save the contract here"
    assert (note in err) == (where != "levels.csv")


def test_infer_prints_to_stdout_as_a_module(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "levels.csv")
    result = subprocess.run(
        [sys.executable, "-m", "petalflow", "contract", "infer", "levels.csv", "--target", "level"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["source"] == csv.name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["contract", "infer", "nope.csv", "--target", "y"], "argument data: no file nope.csv"),
        (["contract", "infer", "levels.csv", "--target", "colour"], "--target: no column 'colour'"),
        (["contract", "infer", "levels.csv"], "the following arguments are required: --target"),
        (["contracts"], "unknown command 'contracts'"),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--drop", "plan,colour"],
            "--drop: 'colour' is not a column besides the target",
        ),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--drop", "level"],
            "--drop: 'level' is not a column besides the target",
        ),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--output", "levels.csv"],
            "argument --output: levels.csv is the CSV itself",
        ),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--output", "."],
            "argument --output: . is a folder",
        ),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--output", "no/c.yaml"],
            "argument --output: no folder no",
        ),
        (
            ["contract", "infer", "levels.csv", "--target", "level", "--output", "c.txt"],
            "argument --output: c.txt must end in .yaml, .yml, .json",
        ),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = write_csv(tmp_path / "levels.csv").read_bytes()
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["levels.csv"]  # nothing written
    assert (tmp_path / "levels.csv").read_bytes() == before  # the data kept


def test_infer_output_refuses_an_existing_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "levels.csv")
    edited = tmp_path / "levels.yaml"
    edited.write_text("# reviewed by hand\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["contract", "infer", "levels.csv", "--target", "level", "--output", "levels.yaml"])
    assert exited.value.code == 2
    assert (
        "argument --output: levels.yaml exists and may hold your edits" in capsys.readouterr().err
    )
    assert edited.read_text(encoding="utf-8") == "# reviewed by hand\n"


def test_infer_drop_leaves_columns_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(tmp_path / "levels.csv")
    monkeypatch.chdir(tmp_path)
    argv = ["levels.csv", "--target", "level", "--drop", "plan, active", "--output", "c.yaml"]
    assert main(["contract", "infer", *argv]) == 0
    document = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert document["drop"] == ["plan", "active", "row id"]
    names = [f["name"] for f in document["features"]]
    assert names == ["tenure months", "größe", "score"]


def test_monitor_is_dispatched(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--help"])
    assert exit_info.value.code == 0
    assert "--prediction-log" in capsys.readouterr().out


NAMES = ["contract infer", "tune", "promote", "rollback", "monitor export", "monitor"]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["--help"], 0, None),
        (["-h"], 0, None),
        ([], 2, "error: pick a command"),
        (["contracts"], 2, "error: unknown command 'contracts'"),
        (["contract"], 2, "error: 'contract' needs its second word: contract infer"),
        (["contract", "x.csv"], 2, "error: 'contract' has no command 'x.csv'; use contract infer"),
        (
            ["contract", "inferr"],
            2,
            "error: 'contract' has no command 'inferr'; use contract infer",
        ),
        (["contract", "--help"], 0, None),
    ],
)
def test_usage_lists_every_command(
    argv: list[str], status: int, message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == status
    out, err = capsys.readouterr()
    shown = out if status == 0 else err
    assert (err if status == 0 else out) == ""
    assert shown.startswith("usage: python -m petalflow COMMAND")
    listed = [line.split("  ")[1] for line in shown.splitlines() if line.startswith("  ")]
    assert listed == NAMES == [command.name for command in COMMANDS]
    assert message is None or message in shown


@pytest.mark.parametrize("words", [name.split() for name in NAMES])
def test_each_command_keeps_its_own_help(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out  # the command's own flags (monitor's prog: petalflow.monitor)
    assert out.startswith("usage: python -m petalflow") and "show this help message" in out
    assert "commands:" not in out


@pytest.mark.parametrize(("argv", "status"), [(["--help"], 0), ([], 2)])
def test_usage_exit_status_as_a_module(argv: list[str], status: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "petalflow", *argv],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert result.returncode == status, result.stderr
    assert "monitor export" in (result.stdout if status == 0 else result.stderr)


def _column(values: list[str], stray: dict[int, str]) -> pd.Series:
    column = pd.Series(values)
    for row, value in stray.items():
        column[row] = value
    return column


@pytest.mark.parametrize(
    ("values", "stray", "message"),
    [
        # 60 measurements and one typo: neither free text to drop nor a category.
        (
            [f"{x:.3f}" for x in np.linspace(0, 1, 60)],
            {11: "oops"},
            "column 'a' is numbers except 1 value(s) ('oops' in data row 12)",
        ),
        (
            [str(i % 5) for i in range(60)],
            {3: "unknown", 40: "?"},
            "column 'a' is numbers except 2 value(s) ('unknown' in data row 4, '?' in data row 41)",
        ),
    ],
)
def test_infer_reports_numbers_with_stray_text(
    values: list[str], stray: dict[int, str], message: str
) -> None:
    spec = infer_feature("a", _column(values, stray))
    assert isinstance(spec, str) and spec.startswith(message) and "listed under drop" in spec


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["S", "M", "L", "1", "2"] * 10, "category"),  # text is not rare: a category
        ([str(i % 5) for i in range(60)], "int"),
        ([str(i % 3) for i in range(7)] + ["x"], "category"),  # 1 in 8: over 10 % text
    ],
)
def test_infer_types_columns_whose_text_is_not_rare_as_before(values: list[str], kind: str) -> None:
    spec = infer_feature("a", pd.Series(values))
    assert not isinstance(spec, str) and spec.type == kind


def test_infer_drops_a_column_without_a_header_name_and_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An index saved with the table: its row numbers would otherwise be an int feature.
    frame = pd.read_csv(write_csv(tmp_path / "levels.csv"))
    frame.to_csv(tmp_path / "indexed.csv")  # pandas writes the index under an empty name
    output = tmp_path / "c.yaml"
    argv = [str(tmp_path / "indexed.csv"), "--target", "level", "--output", str(output)]
    assert main(["contract", "infer", *argv]) == 0
    assert "column 'Unnamed: 0' has no name in the header" in capsys.readouterr().err
    document = yaml.safe_load(output.read_text())
    assert document["drop"] == ["Unnamed: 0", "row id"]
    assert "Unnamed: 0" not in [f["name"] for f in document["features"]]
    folder = train_into(tmp_path / "artifacts", "--dataset", str(output))
    served = json.loads((folder / "contract.json").read_text())["features"]
    assert [f["name"] for f in served] == [f["name"] for f in document["features"]]


def test_infer_types_whole_numbers_with_gaps_as_int_as_the_built_in_penguins_does(
    tmp_path: Path,
) -> None:
    # pandas holds whole numbers with gaps as floats and writes them as "181.0".
    import palmerpenguins

    csv, frame = tmp_path / "penguins.csv", palmerpenguins.load_penguins()
    frame.to_csv(csv, index=False)
    spec = infer_contract(csv, "species", None, []).contract
    features = {f.name: f for f in spec.features}
    built_in = {f.name: f for f in data.prepare("penguins", 0.2, 42).features}
    for name in ("flipper_length_mm", "body_mass_g"):
        assert (features[name].type, features[name].nullable) == ("int", True), name
        assert built_in[name].type == "int", name
        assert (features[name].ge, features[name].le) == (frame[name].min(), frame[name].max())
    assert features["bill_length_mm"].type == "float"  # 39.1: not whole


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["181.0", "", "186.0"], "int"),  # gaps: pandas' spelling of whole numbers
        (["181.0", "185.0", "186.0"], "float"),  # no gap: the file chose decimals
        (["181.5", "", "186.0"], "float"),
        (["181", "", "186"], "int"),
    ],
)
def test_infer_reads_a_trailing_point_zero_as_whole_only_beside_gaps(
    values: list[str], kind: str
) -> None:
    spec = infer_feature("a", pd.Series(values).replace("", None))
    assert not isinstance(spec, str) and spec.type == kind


@pytest.mark.parametrize(
    ("output", "artifact"), [(None, "contract.yaml"), ("levels.yaml", "levels.yaml")]
)
def test_infer_under_mlflow_run_logs_the_contract_to_its_run(
    output: str | None,
    artifact: str,
    tmp_path: Path,
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `mlflow run -e contract` starts a run and passes its id: the step's output is kept
    # in that run, as each step of MLflow's multistep workflow keeps its own.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("contracts", (tmp_path / "mlruns").as_uri())
    run_id = client.create_run(experiment).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    write_csv(tmp_path / "levels.csv")
    monkeypatch.chdir(tmp_path)
    argv = ["contract", "infer", "levels.csv", "--target", "level"]
    assert main(argv + (["--output", output] if output else [])) == 0
    captured = capsys.readouterr()
    written = captured.out if output is None else (tmp_path / output).read_text(encoding="utf-8")
    logged = Path(client.download_artifacts(run_id, artifact, str(tmp_path / "dl")))
    assert logged.read_text(encoding="utf-8") == written
    assert yaml.safe_load(written)["target"] == "level"
    assert f"logged {artifact} to MLflow run {run_id}" in captured.err


def test_infer_under_mlflow_run_says_in_one_line_when_the_run_cannot_take_it(
    tmp_path: Path,
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")  # no such run
    write_csv(tmp_path / "levels.csv")
    monkeypatch.chdir(tmp_path)
    argv = ["contract", "infer", "levels.csv", "--target", "level", "--output", "levels.yaml"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "wrote levels.yaml" in err  # the contract is kept: only its logging failed
    assert "contract infer: cannot log levels.yaml to MLflow run 0123456789abcdef" in err
    assert "Traceback" not in err
    assert yaml.safe_load((tmp_path / "levels.yaml").read_text())["target"] == "level"
