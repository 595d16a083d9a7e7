"""The test split two registered versions share, rebuilt for ``promote`` to score them on.

Both runs must record the same data (its sha256), seed and test size, or the comparison
is refused: on other rows, one version may have trained on the other's test rows.
"""

from __future__ import annotations

import shlex

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from petalflow.core.errors import DataContractError, InvalidSplitError, PromotionError, TableError
from petalflow.training import data

SPLIT_PARAMS = ("dataset", "seed", "test_size")


def _split_params(client: MlflowClient, version: ModelVersion) -> dict[str, str]:
    run = client.get_run(str(version.run_id))
    found = {k: _canonical(k, run.data.params.get(k, "?")) for k in SPLIT_PARAMS}
    return {**found, "dataset_sha256": run.data.tags.get("dataset_sha256", "?")}


def _canonical(key: str, value: str) -> str:
    """A split parameter as train.py writes it (`mlflow run -P test_size=0.20` logs 0.20)."""
    parse = {"seed": int, "test_size": float}.get(key)
    try:
        return value if parse is None else str(parse(value))
    except ValueError:
        return value


def shared_test_split(
    client: MlflowClient, challenger: ModelVersion, champion: ModelVersion
) -> data.Dataset:
    """The data set both versions were split from, loaded again; PromotionError when their
    test splits differ or the data changed since."""
    mine, theirs = _split_params(client, challenger), _split_params(client, champion)
    # The data are compared by their sha256: a contract's path may be spelled two ways.
    paths = [mine.pop("dataset"), theirs.pop("dataset")]
    if mine != theirs or "?" in mine.values():
        differ = ", ".join(
            f"{k} {mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k]
        )
        if mine["dataset_sha256"] != theirs["dataset_sha256"]:  # the digests say little
            differ = f"dataset {paths[0]!r} vs {paths[1]!r}, {differ}"
        named = f" (--dataset {shlex.quote(paths[1])})" if paths[1] != "?" else ""
        raise PromotionError(
            f"the test splits differ (challenger vs champion: {differ or 'not recorded'}); "
            f"an unfair comparison is refused: train the challenger on the champion's data "
            f"set{named} with --seed {theirs['seed']} --test-size {theirs['test_size']}"
        )
    problems, changed = [], False
    for path in dict.fromkeys(paths):  # the challenger's path, then the champion's
        try:
            dataset = data.prepare(path, float(mine["test_size"]), int(mine["seed"]))
        except (DataContractError, TableError, InvalidSplitError) as exc:
            problems.append(f"{path!r}: {exc}")
            continue
        if dataset.sha256 == mine["dataset_sha256"]:
            return dataset
        changed = True
        problems.append(
            f"the rows {path!r} loads (for a contract: from its CSV) are not the rows both "
            "versions were trained on (another sha256)"
        )
    advice = (
        "restore the data they were trained on, or retrain both on today's"
        if changed
        else "run promote in the folder the trainings ran in (a contract's path is "
        "relative to it), or retrain both"
    )
    raise PromotionError(f"cannot rebuild the test split: {'; '.join(problems)}; {advice}")
