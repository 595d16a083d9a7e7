"""The FastAPI floor: what one uvicorn worker does with no model and no validation.

``uvicorn bench.floor:app``: POST /predict reads the body and returns a constant JSON
document, the bytes of ``FLOOR_BODY_FILE`` (a real petalflow /predict response, so the
response has the same size). No middleware, no parsing, no logging, no metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

_DEFAULT = (
    b'{"predicted_label":"virginica","class_probabilities":{"setosa":0.0,'
    b'"versicolor":0.0,"virginica":1.0},"model_version":"0","latency_ms":0.0}'
)
BODY = (
    Path(os.environ["FLOOR_BODY_FILE"]).read_bytes()
    if "FLOOR_BODY_FILE" in os.environ
    else _DEFAULT
)

app = FastAPI(title="petalflow-floor", openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(content=BODY, media_type="application/json")
