"""ASGI entry point: `uvicorn serve:app`. Configured by environment variables (README)."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from petalflow.observability.logs import configure_logging, prepare_multiprocess_metrics
from petalflow.serving.settings import Settings, get_settings

logger = logging.getLogger("petalflow.serve")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        configure_logging()
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        logger.error("invalid configuration: %s", problems)
        raise SystemExit(2) from None


settings = _settings()
configure_logging(settings.log_level)
# Must precede the first import of prometheus_client (inside petalflow.serving.app).
prepare_multiprocess_metrics()

from petalflow.serving.app import create_app  # noqa: E402

app = create_app(settings)

if __name__ == "__main__":
    print("run the API with: uvicorn serve:app --host 0.0.0.0 --port 8000", file=sys.stderr)
    sys.exit(2)
