"""The reload cell's operator, in a process of its own: moves the alias, asks for a reload.

    python -m bench.reloader URL TRACKING_URI REGISTERED_NAME EVERY_SECONDS   (from the root)

It imports MLflow, prints ``ready`` and waits for a line on stdin; then, until stdin
closes, it moves ``REGISTERED_NAME@champion`` to the other of versions 1 and 2, calls
``POST URL/admin/reload``, and waits ``EVERY_SECONDS``; last it prints one JSON line:
``{"switched": n, "errors": [...]}``. A process, not a thread of the bench: the latency
client measures from the bench's process, and a thread there moving the alias (MLflow's
store calls, tens of ms of Python each) would hold the client's GIL and add its waits to
the measured request times.
"""

from __future__ import annotations

import json
import select
import sys

from bench.lifecycle import ALIAS
from bench.servers import post


def run(url: str, tracking_uri: str, registered: str, every: float) -> dict[str, object]:
    """Reload until stdin closes (after ``go``); the outcome counts."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    print("ready", flush=True)
    switched, errors, version = 0, [], 1
    if not sys.stdin.readline():  # closed before "go": nothing to do
        return {"switched": switched, "errors": errors}
    while True:
        version = 3 - version
        client.set_registered_model_alias(registered, ALIAS, str(version))
        status, body = post(url + "/admin/reload", b"")
        outcome = json.loads(body).get("outcome") if status == 200 else None
        if outcome == "switched":
            switched += 1
        else:
            errors.append(f"reload to version {version}: {status} {body[:200]!r}")
        readable, _, _ = select.select([sys.stdin], [], [], every)
        if readable and not sys.stdin.readline():  # stdin closed: the measurement is over
            return {"switched": switched, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    url, tracking_uri, registered, every = argv or sys.argv[1:]
    print(json.dumps(run(url, tracking_uri, registered, float(every))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
