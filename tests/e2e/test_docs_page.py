"""`/docs` and `/redoc` render in a real headless browser with no network but the server's.

Chromium resolves every host except the loopback server to "not found", so a page that still
pulled Swagger UI, ReDoc, a favicon or fonts from a CDN would stay blank and fail here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"


def chromium() -> str:
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        pytest.fail(
            "headless Chromium is needed to render /docs and /redoc: run `make tools` as root "
            "(or `sudo apt-get install chromium`)",
            pytrace=False,
        )
    return path


def render(url: str, profile: Path) -> str:
    """The DOM of ``url`` after its scripts ran, as headless Chromium sees it."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # No network: every name but the loopback server fails to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


def external_urls(html: str) -> list[str]:
    """src/href values of the page that leave the server."""
    return [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if "//" in u]


def test_swagger_ui_renders_offline(start_server, trained: Path, tmp_path: Path) -> None:
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    page = httpx.get(server.url + "/docs")
    assert page.status_code == 200
    assert external_urls(page.text) == []
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        assert httpx.get(server.url + asset).status_code == 200, asset

    dom = render(server.url + "/docs", tmp_path / "profile")
    # The POST /predict operation block, with its path and summary, as Swagger UI draws it.
    block = re.search(
        r'<div class="opblock opblock-post[^"]*" id="operations-[^"]*predict[^"]*"', dom
    )
    assert block, f"no rendered /predict operation in the DOM: {dom[:2000]}"
    assert 'data-path="/predict"' in dom
    assert "Predict one row" in dom


def test_redoc_renders_offline(start_server, trained: Path, tmp_path: Path) -> None:
    server = start_server({"ARTIFACTS_DIR": str(trained)})
    page = httpx.get(server.url + "/redoc")
    assert page.status_code == 200
    assert external_urls(page.text) == []

    dom = render(server.url + "/redoc", tmp_path / "profile")
    assert "Predict one row" in dom, f"ReDoc did not render the API: {dom[:2000]}"
    assert "/predict" in dom
    assert httpx.get(server.url + "/openapi.json").json()["paths"]["/predict"]["post"]
