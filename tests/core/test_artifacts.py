import os
from pathlib import Path

import pytest

from petalflow.core import artifacts


def test_write_json_is_canonical(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    artifacts.write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_write_json_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        artifacts.write_json(tmp_path / "x.json", {"a": float("nan")})


def test_staged_directory_publishes_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with artifacts.staged_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_directory_keeps_previous_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), artifacts.staged_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f"
    path.write_bytes(b"petal" * 1000)
    assert artifacts.sha256_file(path) == hashlib.sha256(b"petal" * 1000).hexdigest()


def test_contract_file_is_one_of_the_json_files() -> None:
    assert artifacts.CONTRACT_FILE == "contract.json"
    assert artifacts.CONTRACT_FILE in artifacts.JSON_FILES
    assert len(set(artifacts.JSON_FILES)) == len(artifacts.JSON_FILES) == 6


@pytest.mark.parametrize(("owner", "when"), [(os, "mkdir"), (Path, "chmod")])
def test_staged_directory_a_signal_right_after_creating_the_folder_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: object, when: str
) -> None:
    """A SIGTERM handler raising SystemExit the instant the folder exists (seen in CI)."""
    target = tmp_path / "artifacts"
    target.mkdir()
    (target / "old.txt").write_text("previous")
    real = getattr(owner, when)

    def then_signal(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)
        raise SystemExit(143)

    monkeypatch.setattr(owner, when, then_signal)
    with pytest.raises(SystemExit), artifacts.staged_directory(target):
        pytest.fail("the block must not run")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts"]
    assert (target / "old.txt").read_text() == "previous"
