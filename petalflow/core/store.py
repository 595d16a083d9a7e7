"""Where MLflow runs live: the tracking URI every layer resolves the same way."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_tracking_uri(root: Path = PROJECT_ROOT) -> str:
    """MLflow's local default (sqlite:///mlflow.db), anchored at the project root."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def resolve_tracking_uri(root: Path = PROJECT_ROOT) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the project root's sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def local_artifact_root(uri: str) -> str | None:
    """For a sqlite store, ``mlruns/`` beside the database file (else None).

    MLflow would resolve ``./mlruns`` against the working directory of whichever process
    creates an experiment; anchoring it keeps a store's runs in one place.
    """
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()


def local_paths(uri: str) -> list[Path]:
    """What a local store at ``uri`` keeps on disk, existing yet or not: a sqlite file and
    the ``mlruns/`` beside it, or a file store's folder; nothing for a server."""
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        database = Path(uri.removeprefix("sqlite:///").partition("?")[0])  # ?timeout=20
        return [database, database.parent / "mlruns"]
    if uri.startswith("file:"):
        return [Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))]
    if "://" not in uri:  # a bare path: MLflow's file store
        return [Path(uri)]
    return []


def missing_database(uri: str) -> str | None:
    """Why a sqlite store at ``uri`` cannot be read: its file does not exist (MLflow would
    create an empty one, so that a mistyped path reads as a registry with no models)."""
    paths = local_paths(uri)
    if not uri.startswith("sqlite:///") or not paths:
        return None
    database = Path(urllib.parse.unquote(str(paths[0])))  # as SQLAlchemy decodes the URL
    if database.exists():
        return None
    return (
        f"there is no MLflow store at {uri} (no file {database}); fix MLFLOW_TRACKING_URI, "
        "or train with --register-model first to create it"
    )


def unreachable(uri: str, timeout: float = 10.0) -> str | None:
    """Why an http(s) tracking server does not answer (None if it does, or not http).

    One bounded request, so that an unreachable server fails fast instead of going
    through MLflow's retries (minutes), without changing the process's environment.
    """
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered; MLflow will say what is wrong
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
