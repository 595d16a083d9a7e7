"""The tune command's storage check: a lost table-creation race is retried, nothing else is."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from petalflow.training import tune_command


class FlakyStorage:
    """Stands in for optuna's RDBStorage: raises the queued errors, then opens."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    def __call__(self, url: str) -> object:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return object()


def _race(message: str) -> Exception:
    return sqlalchemy.exc.ProgrammingError("CREATE TABLE studies", {}, Exception(message))


RACES = [
    _race('relation "studies" already exists'),  # PostgreSQL
    sqlalchemy.exc.OperationalError("CREATE", {}, Exception("table studies already exists")),
    sqlalchemy.exc.IntegrityError("INSERT version_info", {}, Exception("duplicate key")),
]


@pytest.mark.parametrize("error", RACES, ids=["postgresql", "sqlite", "version-row"])
def test_check_storage_retries_a_lost_schema_race(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    fake = FlakyStorage([error, error])
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    assert tune_command._check_storage("postgresql://u:secret@h/db", pauses.append) is None
    assert fake.calls == 3
    assert pauses == [0.5, 0.5]


def test_check_storage_gives_up_on_a_race_after_five_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import optuna

    fake = FlakyStorage([_race('relation "studies" already exists')] * 9)
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    problem = tune_command._check_storage("postgresql://u:secret@h/db", pauses.append)
    assert problem is not None
    assert problem.startswith("Optuna cannot open postgresql://u:***@h/db (ProgrammingError")
    assert "secret" not in problem
    assert fake.calls == 5
    assert len(pauses) == 4


def test_check_storage_reports_other_errors_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    refused = sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))
    fake = FlakyStorage([refused])
    monkeypatch.setattr(optuna.storages, "RDBStorage", fake)
    pauses: list[float] = []
    problem = tune_command._check_storage("postgresql://h/db", pauses.append)
    assert problem is not None and "connection refused" in problem and "fix the URL" in problem
    assert (fake.calls, pauses) == (1, [])
