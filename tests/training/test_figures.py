"""The evaluation figures: which curves they draw, with scikit-learn's values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from petalflow.training import figures
from tests.conftest import ROOT

CLASSES = ["a", "b", "c"]
RNG = np.random.default_rng(4)
TRUTH = list(RNG.choice(CLASSES, 40))
PROBA = RNG.dirichlet([1, 1, 1], 40)


def _legend(figure: object) -> list[str]:
    axes = figure.axes[0]  # type: ignore[attr-defined]
    return [t.get_text() for t in axes.get_legend().get_texts()]


def test_one_vs_rest_draws_every_class_or_the_positive_one() -> None:
    assert [c for _, c, _ in figures.one_vs_rest(TRUTH, CLASSES, None)] == CLASSES
    curves = figures.one_vs_rest(["n", "y", "y"], ["n", "y"], "n")
    assert [(column, name) for column, name, _ in curves] == [(0, "n")]
    np.testing.assert_array_equal(curves[0][2], [True, False, False])
    assert [c for _, c, _ in figures.one_vs_rest(["n", "y"], ["n", "y"], None)] == ["y"]


def test_roc_figure_labels_each_class_with_sklearns_auc() -> None:
    truth = np.asarray(TRUTH)
    expected = [
        f"{c} (AUC {roc_auc_score(truth == c, PROBA[:, i]):.3f})" for i, c in enumerate(CLASSES)
    ]
    assert _legend(figures.roc_figure(TRUTH, PROBA, CLASSES, None)) == expected


def test_pr_figure_labels_each_class_with_sklearns_average_precision() -> None:
    truth = np.asarray(TRUTH)
    expected = [
        f"{c} (AP {average_precision_score(truth == c, PROBA[:, i]):.3f})"
        for i, c in enumerate(CLASSES)
    ]
    assert _legend(figures.pr_figure(TRUTH, PROBA, CLASSES, None)) == expected


def test_calibration_figure_draws_one_line_per_class_and_the_diagonal() -> None:
    figure = figures.calibration_figure(TRUTH, PROBA, CLASSES, None)
    assert len(figure.axes[0].get_lines()) == len(CLASSES) + 1


@pytest.mark.parametrize("normalized", [False, True])
def test_confusion_figure_writes_the_cells(normalized: bool) -> None:
    matrix = np.array([[0.5, 0.5], [0.0, 1.0]]) if normalized else np.array([[3, 1], [0, 4]])
    figure = figures.confusion_figure(["x", "y"], matrix, normalized)
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    assert texts == (["0.00", "0.50", "0.50", "1.00"] if normalized else ["0", "1", "3", "4"])


def test_save_png_leaves_out_the_software_metadata(tmp_path: Path) -> None:
    rows = [{"feature": "f", "importance_mean": 0.2, "importance_std": 0.1}]
    path = figures.save_png(figures.importance_figure(rows, "f1_macro"), tmp_path / "i.png")
    raw = path.read_bytes()
    assert raw.startswith(b"\x89PNG") and b"Software" not in raw and b"atplotlib" not in raw


def test_training_modules_import_matplotlib_only_to_draw() -> None:
    # tune's MLflow process imports these and never draws: matplotlib stays out of its path.
    code = (
        "import sys; import petalflow.training.tuning, petalflow.training.run; "
        "print('matplotlib' in sys.modules)"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "False"
