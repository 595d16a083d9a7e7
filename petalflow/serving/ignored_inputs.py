"""What /invocations ignored, as `mlflow models serve` ignores it, never silently.

Columns that are no feature, top-level keys beside the format and ``params`` (the model
takes none) are ignored, as MLflow does: clients send whole DataFrames, id columns
included. Each is counted in ``petalflow_invocations_ignored_inputs_total{kind}``, and each
distinct set is logged once (a warning naming them), so that a misspelt feature name that
a nullable feature's imputation would hide still shows up. A set is remembered by a
16-byte digest of its names, so what a client sends (names of any length) never grows
what the server keeps.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping

from petalflow.observability.metrics import Telemetry

logger = logging.getLogger(__name__)

_WHAT = {
    "column": "columns that are not features of the model",
    "key": "top-level keys beside the input format",
    "param": "params (the model takes none)",
}


class IgnoredInputs:
    """Counts ignored names by kind and logs each distinct set once (``remember`` sets at
    most; later new sets are only counted, which one warning says)."""

    def __init__(self, telemetry: Telemetry, remember: int = 1000) -> None:
        self.telemetry = telemetry
        self.remember = remember
        self._seen: set[tuple[str, bytes]] = set()  # (kind, digest of the set of names)
        self._lock = threading.Lock()

    def note(self, ignored: Mapping[str, tuple[str, ...]]) -> None:
        """Count and (once per distinct set) log the names one request had ignored."""
        for kind, names in ignored.items():
            if names:
                self.telemetry.count_ignored(kind, len(names))
                self._log_once(kind, names)

    def _log_once(self, kind: str, names: tuple[str, ...]) -> None:
        if len(self._seen) > self.remember:  # only counted from now on: no digest needed
            return
        key = (kind, names_digest(names))
        with self._lock:
            if key in self._seen or len(self._seen) > self.remember:
                return
            full = len(self._seen) == self.remember
            self._seen.add(key)
        if full:
            logger.warning(
                "/invocations: %d distinct sets of ignored names logged; further ones are "
                "only counted (petalflow_invocations_ignored_inputs_total)",
                self.remember,
            )
            return
        shown = sorted(name[:64] for name in names)[:20]
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        logger.warning(
            "/invocations ignored %s: %s%s, as mlflow models serve does (logged once per "
            "distinct set; counted in petalflow_invocations_ignored_inputs_total)",
            _WHAT.get(kind, kind),
            shown,
            more,
        )


def names_digest(names: tuple[str, ...]) -> bytes:
    """A 16-byte digest of the set of ``names`` (order and repeats ignored)."""
    # NUL-separated: ("ab", "c") and ("a", "bc") differ; JSON may carry lone surrogates
    joined = "\0".join(sorted(set(names))).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=16).digest()
