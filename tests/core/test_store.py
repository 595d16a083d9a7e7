"""Where MLflow runs live: which stores can be read as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from petalflow.core.store import missing_database


def test_missing_database_names_a_sqlite_file_that_is_not_there(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlfow.db'}"
    assert missing_database(uri) == (
        f"there is no MLflow store at {uri} (no file {tmp_path / 'mlfow.db'}); fix "
        "MLFLOW_TRACKING_URI, or train with --register-model first to create it"
    )
    assert list(tmp_path.iterdir()) == []  # asking creates nothing


@pytest.mark.parametrize(
    "uri",
    ["sqlite:///:memory:", "http://127.0.0.1:5000", "postgresql://u@h/db", "file:///tmp/x"],
)
def test_missing_database_says_nothing_of_other_stores(uri: str) -> None:
    assert missing_database(uri) is None


def test_missing_database_takes_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    assert missing_database(f"sqlite:///{tmp_path / 'mlflow.db'}?timeout=20") is None


def test_missing_database_reads_a_percent_encoded_path_as_sqlalchemy_does(tmp_path: Path) -> None:
    (tmp_path / "my dir").mkdir()
    (tmp_path / "my dir" / "mlflow.db").write_bytes(b"")
    assert missing_database(f"sqlite:///{tmp_path}/my%20dir/mlflow.db") is None
