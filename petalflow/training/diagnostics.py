"""What a run shows beyond its metrics: the evaluation folder, its name and description.

The evaluation folder (logged to the run as ``evaluation/``) holds the test split's ROC,
precision-recall and calibration curves, the raw and normalized confusion matrices, the
permutation importance of each feature, and the classification report as JSON and text.
Every file is a function of the fitted pipeline, the test split and the seed, so the same
training writes the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix
from sklearn.pipeline import Pipeline

from petalflow.core import artifacts
from petalflow.training import evaluation as metrics
from petalflow.training import figures

logger = logging.getLogger(__name__)

EVALUATION_DIR = "evaluation"
# Permutation importance: shuffles per feature (all predicted in one call); the score
# whose drop it measures.
IMPORTANCE_REPEATS = 5
IMPORTANCE_SCORING = "f1_macro"
# Test rows it shuffles at most (sklearn's max_samples): 1,000,000 rows' 200,000 test rows
# x 19 features x 5 repeats would be 19 million rows to predict (~70 s, ~14 GiB); 5,000
# rows x 19 x 5 take ~0.8 s.
MAX_IMPORTANCE_ROWS = 5_000
# Rows of shuffled frames predicted per call (whole features; at least one).
PREDICT_ROWS = 100_000
PLOTS = (
    "roc_curve.png",
    "precision_recall_curve.png",
    "calibration_curve.png",
    "confusion_matrix_normalized.png",
    "permutation_importance.png",
)
REPORTS = ("classification_report.json", "classification_report.txt", "permutation_importance.json")


@dataclass(frozen=True)
class TestSplit:
    """The held-out rows a fitted pipeline is judged on."""

    X: pd.DataFrame
    y: pd.Series
    positive_class: str | None
    seed: int


def classification_reports(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> Any:
    """scikit-learn's classification report as a dict (JSON) and as its text table, of
    labels coded as their index in ``classes`` (-1: none of them)."""
    kwargs: dict[str, Any] = {
        "labels": list(range(len(classes))),
        "target_names": classes,
        "zero_division": 0,
    }
    as_dict = classification_report(truth, predicted, output_dict=True, **kwargs)
    return as_dict, classification_report(truth, predicted, digits=4, **kwargs)


def permuted_rows(
    X: pd.DataFrame, rng: np.random.Generator, repeats: int, columns: range | None = None
) -> pd.DataFrame:
    """``X`` stacked once per (feature, repeat), in that order, each block with that
    feature's column shuffled: one frame, so the model predicts them all in one call.
    ``columns`` (positions, default all) limits the blocks to those features; the
    shuffles are drawn feature by feature, so consecutive ranges draw what one call would."""
    shuffled = range(X.shape[1]) if columns is None else columns
    n, blocks = len(X), len(shuffled) * repeats
    stacked: dict[str, pd.Series] = {}
    for j, column in enumerate(X.columns):
        source = np.tile(np.arange(n), blocks)
        if j in shuffled:
            first = (j - shuffled.start) * repeats
            for block in range(first, first + repeats):
                source[block * n : (block + 1) * n] = rng.permutation(n)
        stacked[column] = X[column].take(source).reset_index(drop=True)
    return pd.DataFrame(stacked, columns=X.columns)


def importance_rows(split: TestSplit) -> TestSplit:
    """The test rows permutation importance shuffles: all of them up to
    MAX_IMPORTANCE_ROWS, else that many, evenly spaced (the split is already shuffled)."""
    n = len(split.X)
    if n <= MAX_IMPORTANCE_ROWS:
        return split
    picked = np.unique(np.linspace(0, n - 1, MAX_IMPORTANCE_ROWS).astype(np.intp))
    X = split.X.iloc[picked].reset_index(drop=True)
    return TestSplit(
        X, split.y.iloc[picked].reset_index(drop=True), split.positive_class, split.seed
    )


def importances(pipeline: Pipeline, split: TestSplit) -> list[dict[str, float | str]]:
    """Permutation importance of each input feature on the test split (``importance_rows``),
    largest first: the mean (and std) drop in macro F1 over IMPORTANCE_REPEATS shuffles
    of its column. The shuffled frames are predicted a few features at a time, in calls
    of at most about PREDICT_ROWS rows, so their memory stays small."""
    split = importance_rows(split)
    classes = [str(c) for c in pipeline.classes_]
    truth = _codes(split.y.to_numpy(), classes)
    n, repeats = len(split.X), IMPORTANCE_REPEATS
    baseline = metrics.macro_f1(
        truth, _codes(pipeline.predict(split.X), classes)[None, :], len(classes)
    )[0]
    rng = np.random.default_rng(split.seed)
    step = max(1, PREDICT_ROWS // max(n * repeats, 1))
    found: list[np.ndarray] = []
    for start in range(0, split.X.shape[1], step):
        columns = range(start, min(start + step, split.X.shape[1]))
        rows = permuted_rows(split.X, rng, repeats, columns)
        found.append(_codes(pipeline.predict(rows), classes).reshape(-1, n))
    shuffled = np.concatenate(found)
    drops = (baseline - metrics.macro_f1(truth, shuffled, len(classes))).reshape(-1, repeats)
    ranked: list[dict[str, float | str]] = [
        {"feature": str(name), "importance_mean": float(d.mean()), "importance_std": float(d.std())}
        for name, d in zip(split.X.columns, drops, strict=True)
    ]
    return sorted(ranked, key=lambda r: (-float(r["importance_mean"]), str(r["feature"])))


def _codes(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    """Each label's index in ``classes`` (as text; -1 for a label the model lacks)."""
    return pd.Index(classes, dtype=object).get_indexer(pd.Index(labels, dtype=object).astype(str))


def write_evaluation(
    pipeline: Pipeline, split: TestSplit, folder: Path, proba: np.ndarray | None = None
) -> list[Path]:
    """Every plot and report of ``pipeline`` on ``split`` into ``folder``; the files.
    ``proba``: the pipeline's probabilities on ``split.X``, when the caller has them."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = [str(c) for c in pipeline.classes_]
    proba = pipeline.predict_proba(split.X) if proba is None else proba
    chosen = proba.argmax(axis=1)
    truth = [str(v) for v in split.y]
    # Codes 0..k-1 in the classes' (sorted) order: scikit-learn counts them as it would
    # the text, without comparing strings row by row.
    truth_codes = _codes(split.y.to_numpy(), classes)
    counts = confusion_matrix(truth_codes, chosen, labels=range(len(classes)))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ranked = importances(pipeline, split)
    drawn = {
        "roc_curve.png": figures.roc_figure(truth, proba, classes, split.positive_class),
        "precision_recall_curve.png": figures.pr_figure(
            truth, proba, classes, split.positive_class
        ),
        "calibration_curve.png": figures.calibration_figure(
            truth, proba, classes, split.positive_class
        ),
        "confusion_matrix_normalized.png": figures.confusion_figure(
            classes, shares, normalized=True
        ),
        "permutation_importance.png": figures.importance_figure(ranked, IMPORTANCE_SCORING),
    }
    written = [figures.save_png(figure, folder / name) for name, figure in drawn.items()]
    report, text = classification_reports(truth_codes, chosen, classes)
    artifacts.write_json(folder / "classification_report.json", report)
    (folder / "classification_report.txt").write_text(text)
    artifacts.write_json(folder / "permutation_importance.json", ranked)
    return [*written, *(folder / name for name in REPORTS)]


def run_name(model: str, hyperparameters: dict[str, Any], seed: int) -> str:
    """A descriptive run name, e.g. ``logreg-C1.0-seed42``: the model, each given
    hyperparameter glued to its value, the seed."""
    parts = [model]
    for key, value in hyperparameters.items():
        shown = "none" if value is None else (repr(value) if isinstance(value, float) else value)
        parts.append(f"{key}{shown}")
    return "-".join([*parts, f"seed{seed}"])


HEADLINE = ("accuracy", "f1_macro", "log_loss", "roc_auc_ovr")


def description(
    dataset: str, rows: tuple[int, int], n_features: int, split: str, scores: dict[str, float]
) -> str:
    """The run's description (Markdown, shown on its page in ``mlflow ui``)."""
    train_rows, test_rows = rows
    headline = ", ".join(f"{k} {scores[k]:.4f}" for k in HEADLINE if k in scores)
    return (
        f"**Data set** {dataset}: {train_rows + test_rows} rows, {n_features} features.  \n"
        f"**Split** {split}: {train_rows} training rows, {test_rows} test rows.  \n"
        f"**Test split** {headline}.  \n"
        f"Plots and the classification report: artifacts, folder `{EVALUATION_DIR}/`."
    )
