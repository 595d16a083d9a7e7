"""Evaluation figures of the test split, as PNG files whose bytes depend only on the data.

Each figure is a bare ``Figure`` on matplotlib's Agg canvas (no pyplot, so no global state
and nothing to close) and is saved without the metadata that could vary between runs
(``Software``), so the same training draws byte-identical PNGs in every process.
Multiclass curves are one-vs-rest, one line per class; a binary target draws its positive
class only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_curve,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
# Calibration bins: the test splits are small (30 rows for Iris), so few, wide bins.
CALIBRATION_BINS = 5


def import_matplotlib() -> None:
    """Import what drawing needs now (train.py does it among its other imports, with the
    collector off). Otherwise it loads with the first figure: tune's MLflow process never
    draws (its search process does), so it does not pay the ~0.3 s."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def _figure(width: float = 5.0, height: float = 4.0, left: float = 0.14) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins: tight_layout would draw each figure once more to measure its text.
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(left=left, right=0.96, bottom=0.55 / height, top=1 - 0.35 / height)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG with no varying metadata; returns ``path``."""
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def one_vs_rest(
    y_true: Sequence[str], classes: Sequence[str], positive: str | None
) -> list[tuple[int, str, np.ndarray]]:
    """(column, class, is-that-class) per curve: every class, or the positive one only."""
    truth = np.asarray([str(v) for v in y_true])
    shown = [positive or classes[1]] if len(classes) == 2 else list(classes)
    return [(list(classes).index(c), c, truth == c) for c in shown]


def roc_figure(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], positive: str | None
) -> Figure:
    """ROC curves (one-vs-rest) with each curve's AUC in the legend."""
    figure = _figure()
    axes = figure.subplots()
    for column, name, truth in one_vs_rest(y_true, classes, positive):
        fpr, tpr, _ = roc_curve(truth, proba[:, column])
        axes.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set(xlabel="false positive rate", ylabel="true positive rate")
    axes.set_title("ROC curve (test split)")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def pr_figure(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], positive: str | None
) -> Figure:
    """Precision-recall curves (one-vs-rest) with each curve's average precision."""
    figure = _figure()
    axes = figure.subplots()
    for column, name, truth in one_vs_rest(y_true, classes, positive):
        precision, recall, _ = precision_recall_curve(truth, proba[:, column])
        score = average_precision_score(truth, proba[:, column])
        axes.step(recall, precision, where="post", label=f"{name} (AP {score:.3f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05))
    axes.set_title("Precision-recall curve (test split)")
    axes.legend(loc="lower left", fontsize="small")
    return figure


def calibration_figure(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], positive: str | None
) -> Figure:
    """Reliability diagram: observed share against mean predicted probability per bin."""
    figure = _figure()
    axes = figure.subplots()
    for column, name, truth in one_vs_rest(y_true, classes, positive):
        observed, predicted = calibration_curve(truth, proba[:, column], n_bins=CALIBRATION_BINS)
        axes.plot(predicted, observed, marker="o", label=name)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.set(xlabel="mean predicted probability", ylabel="observed share", xlim=(0, 1))
    axes.set_title(f"Calibration ({CALIBRATION_BINS} bins, test split)")
    axes.legend(loc="upper left", fontsize="small")
    return figure


def confusion_figure(labels: Sequence[str], matrix: np.ndarray, normalized: bool) -> Figure:
    """The confusion matrix (rows true, columns predicted), raw counts or row shares."""
    figure = _figure()
    axes = figure.subplots()
    display = ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(labels))
    display.plot(ax=axes, colorbar=False, values_format=".2f" if normalized else None)
    title = "Normalized confusion matrix" if normalized else "Confusion matrix"
    axes.set_title(f"{title} (test split)")
    return figure


def importance_figure(rows: Sequence[dict[str, float | str]], scoring: str) -> Figure:
    """Permutation importance: the mean drop of ``scoring`` per feature, with its std."""
    shown = list(rows)[::-1]  # the most important at the top
    longest = max((len(str(r["feature"])) for r in shown), default=1)
    figure = _figure(6.0, max(2.5, 0.25 * len(shown) + 1.2), left=min(0.5, 0.04 + 0.013 * longest))
    axes = figure.subplots()
    positions = np.arange(len(shown))
    axes.barh(
        positions,
        [float(r["importance_mean"]) for r in shown],
        xerr=[float(r["importance_std"]) for r in shown],
        color="tab:blue",
    )
    axes.set_yticks(positions, [str(r["feature"]) for r in shown], fontsize="small")
    axes.set_xlabel(f"mean drop in {scoring} when the feature is shuffled")
    axes.set_title("Permutation importance (test split)")
    return figure
