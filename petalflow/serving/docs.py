"""``/docs`` and ``/redoc`` with no network: Swagger UI and ReDoc served by the app itself.

FastAPI's own pages load their JavaScript, CSS, favicon (and ReDoc's fonts) from CDNs, so
they stay blank on a machine without internet. The ``fastapi-offline`` package ships those
files (Swagger UI 5, ReDoc 2); they are mounted under ``/docs-static`` and the two pages are
FastAPI's HTML pointed at them. ``/openapi.json`` is FastAPI's; with API keys, its
protected operations say so (``document_api_keys``), which gives Swagger UI an Authorize
button that sends the key.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from petalflow.serving.api_keys import KeyGuard

STATIC_URL = "/docs-static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The folder of the packaged Swagger UI and ReDoc files (all of ``ASSETS``)."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:  # a broken install: say so at start-up rather than serve blank pages
        raise RuntimeError(f"fastapi-offline lacks {', '.join(missing)} in {folder}; reinstall it")
    return folder


def add_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the assets and the two documentation pages (create the app with
    ``docs_url=None, redoc_url=None`` so that FastAPI's CDN pages are not registered)."""
    app.mount(STATIC_URL, StaticFiles(directory=assets_dir()), name="docs-static")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        return f"{root}{app.openapi_url}", f"{root}{STATIC_URL}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi_url, static = urls(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon.png",
            oauth2_redirect_url=oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        openapi_url, static = urls(request)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{static}/redoc.standalone.js",
            redoc_favicon_url=f"{static}/favicon.png",
            with_google_fonts=False,
        )


_SCHEME = "apiKey"
_REFUSED = {
    "401": "No usable `Authorization: Bearer <key>` header (API keys are set)",
    "403": "A key the server does not have",
}


def document_api_keys(app: FastAPI, guard: KeyGuard) -> None:
    """Mark each operation whose path ``guard`` protects as needing a bearer key."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's, built once and cached; marking it again changes nothing
        components = schema.setdefault("components", {})
        description = "An API key of the server (API_KEYS, API_KEYS_FILE)"
        bearer = {"type": "http", "scheme": "bearer", "description": description}
        components.setdefault("securitySchemes", {})[_SCHEME] = bearer
        error = {"$ref": "#/components/schemas/ErrorResponse"}
        for path, operations in schema.get("paths", {}).items():
            if not guard.protects(path):
                continue
            for operation in operations.values():
                operation["security"] = [{_SCHEME: []}]
                for status, text in _REFUSED.items():
                    content = {"application/json": {"schema": error}}
                    operation["responses"][status] = {"description": text, "content": content}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
