"""The prediction log: an embedded SQLite database written off the request path.

One row per request, whatever its number of predicted rows. ``PredictionLog.record``
only appends the request to an in-memory queue (O(1), never blocks, nothing serialized).
Who writes it (``writer``):

- In the server, the event loop encodes (``write_from_loop``, a task): every ``linger``
  seconds it takes what is queued and encodes it in slices of at most 30 rows (or one
  larger request), spread evenly over the period (``pacing``); a request waits behind at
  most one slice, not behind a whole drain. After each period a background thread
  inserts what the loop encoded, in one transaction: sqlite3 releases the GIL while
  SQLite inserts, so that work runs beside the requests, and the thread holds the GIL
  only to merge the slices' values and bind them. Why the encoding is the loop's: on a busy server every
  stretch of Python a thread runs holds the GIL, and the event loop waits for the
  hand-offs several times as long as the work itself.
- The same thread writes what the loop leaves behind (over ``pacing.MAX_SLICES`` slices
  in a period, or while the file stays locked), everything when no loop runs (the CLI,
  tests), prunes, and checkpoints the WAL. ``flush`` writes in the calling thread.

Lifecycle: the constructor only stores settings; ``start()`` opens the file, creates or
migrates its schema (``schema``: versioned with ``PRAGMA user_version``) and starts the
thread; ``close()`` writes what is queued and stops it; ``with`` does both.

The price of polling: a SIGKILL loses what is queued, about two periods (``2 * linger``
seconds) of predictions (more if the writer has fallen behind, at most ``max_pending``
requests); a power loss may also lose what was committed since the last checkpoint
(``synchronous=NORMAL``; about a second). A normal shutdown writes everything. The file is in WAL mode
and blocking writers wait up to ``busy_timeout`` seconds for a lock, so several processes (uvicorn
workers, each with its own PredictionLog started after the fork) can share one file.
Retention keeps the newest requests holding about ``max_rows`` predicted rows (and the
newest ``max_rows`` feedback labels); it runs every ``prune_every`` rows written by this
instance. When ``max_pending`` requests are already queued, a record is dropped and its
rows counted in ``dropped``. A duplicate request id is ignored (the first kept).

``PredictionLogReader`` offers the reads on a read-only connection (the monitoring CLI).

Feedback is stored per predicted row in the ``feedback`` table; a row is addressed by its
request id (single-row requests) or ``<request-id>:<index>`` (a row of a batch).
A request's features and probabilities are float64 BLOBs and its labels one byte per row
(the label's position in its JSON ``classes``): ``encoding`` says why and how. To read
rows back, one line per predicted row (features as ``feature_<i>``, probabilities as
``proba_<class>``)::

    python -m petalflow monitor export --prediction-log predictions.db --format csv

or ``PredictionLogReader(path).predicted_rows()`` in Python.
"""

from __future__ import annotations

import logging

from petalflow.monitoring.prediction_log.encoding import Rows
from petalflow.monitoring.prediction_log.queries import RecentPredictions
from petalflow.monitoring.prediction_log.reader import PredictionLogReader
from petalflow.monitoring.prediction_log.store import PredictionLog

logger = logging.getLogger(__name__)

__all__ = ["PredictionLog", "PredictionLogReader", "RecentPredictions", "Rows"]
