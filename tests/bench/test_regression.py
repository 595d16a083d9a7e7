"""The A/B bench against an earlier commit: its cells and its verdicts."""

from __future__ import annotations

import pytest

from bench.regression import GOAL, _cells, build_parser, render
from bench.suite import SINGLE, Cell, Summary


def _summary(path: str, connections: int, key: str, rps: float) -> Summary:
    body = "records_1" if path == "/invocations" else "predict"
    cell = Cell("logreg", SINGLE, connections, key, path, body)
    return Summary(cell, rps, 1.0, 2.0, 0, 3)


def _args(connections: str = "1,16") -> object:
    args = build_parser().parse_args(["--connections", connections])
    args.connections = [int(c) for c in args.connections.split(",")]
    return args


def test_cells_pair_each_endpoint_and_connection_count_on_both_checkouts() -> None:
    groups = _cells("rf", ["/invocations", "/predict"], [1, 16])
    assert [[(c.key, c.path, c.body, c.connections) for c in g] for g in groups] == [
        [("pf", "/invocations", "records_1", 1), ("pf_base", "/invocations", "records_1", 1)],
        [("pf", "/invocations", "records_1", 16), ("pf_base", "/invocations", "records_1", 16)],
        [("pf", "/predict", "predict", 1), ("pf_base", "/predict", "predict", 1)],
        [("pf", "/predict", "predict", 16), ("pf_base", "/predict", "predict", 16)],
    ]
    assert {c.server for g in groups for c in g} == {"pf", "pf_base"}


@pytest.mark.parametrize(
    ("current", "base", "verdict"),
    [(950.0, 1000.0, "PASS"), (949.0, 1000.0, "FAIL"), (1300.0, 1000.0, "PASS")],
)
def test_render_judges_the_ratio_at_the_most_connections_only(
    current: float, base: float, verdict: str
) -> None:
    summaries = [
        _summary("/invocations", 1, "pf", 10.0),  # 0.1x at 1 connection: not a goal
        _summary("/invocations", 1, "pf_base", 100.0),
        _summary("/invocations", 16, "pf", current),
        _summary("/invocations", 16, "pf_base", base),
    ]
    text, failed = render(summaries, _args(), "wrk", 1.0)
    rows = [line for line in text.splitlines() if line.startswith("| logreg")]
    assert rows[0].endswith("| 0.100x |  |  |")
    assert f"| {current / base:.3f}x | >= {GOAL}x | {verdict} |" in rows[1]
    assert failed is (verdict == "FAIL")
