"""`python -m petalflow.monitor`: kept for cron jobs written against it; see monitoring.report."""

from __future__ import annotations

import sys

from petalflow.monitoring.report import main

if __name__ == "__main__":
    sys.exit(main())
