"""Artifact files: canonical JSON, hashing, and the atomic swap of the output folder."""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
PARAMS_FILE = "params.json"
CONFUSION_FILE = "confusion_matrix.json"
MODEL_INFO_FILE = "model_info.json"
REFERENCE_FILE = "reference_stats.json"
CONTRACT_FILE = "contract.json"
JSON_FILES = (
    METRICS_FILE,
    PARAMS_FILE,
    CONFUSION_FILE,
    MODEL_INFO_FILE,
    REFERENCE_FILE,
    CONTRACT_FILE,
)
_TMP_PREFIX = ".tmp-"
_RENAME_EXCHANGE = 2  # linux/fs.h


def json_text(data: Any) -> str:
    """Sorted keys, 2-space indent, trailing newline: the same text for the same data."""
    return json.dumps(data, sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    """``data`` as ``json_text``: the same bytes for the same data."""
    path.write_text(json_text(data))


def json_sha256(data: Any) -> str:
    """Hex sha256 of ``data`` as ``write_json`` writes it: also of the data read back."""
    return hashlib.sha256(json_text(data).encode()).hexdigest()


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def _publish(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # now holds the previous artifacts
        return
    # Fallback: two renames; the previous folder survives until the new one is in place.
    backup = target.with_name(f"{_TMP_PREFIX}{target.name}-old-{os.getpid()}")
    target.rename(backup)
    staging.rename(target)
    shutil.rmtree(backup)


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; publish it only if the block succeeds.

    On any exception (or SystemExit from a signal handler) the temporary folder is
    removed and ``target`` is left exactly as it was.
    """
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    # The name is chosen before the folder exists, so that a SIGTERM landing at any
    # point (its handler raises SystemExit; masking the signal would not help, as another
    # thread may take it) finds the folder named here, and the finally removes it.
    staging = target.with_name(f"{_TMP_PREFIX}{target.name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        staging.mkdir(mode=0o755)
        staging.chmod(0o755)  # mkdir's mode is masked by the umask
        yield staging
        _publish(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
