import numpy as np
import pytest
from sklearn.datasets import load_iris

from petalflow.core.errors import InvalidSplitError
from petalflow.training import data


def test_load_dataset_has_named_features_and_species_targets() -> None:
    X, y = data.load_dataset()
    assert list(X.columns) == list(data.FEATURE_NAMES)
    assert sorted(y.unique()) == ["setosa", "versicolor", "virginica"]
    assert X.shape == (150, 4)


def test_dataset_sha256_is_stable_and_sensitive() -> None:
    X, y = data.load_dataset()
    first = data.dataset_sha256(X, y)
    assert first == data.dataset_sha256(*data.load_dataset())
    X.iloc[0, 0] += 0.1
    assert data.dataset_sha256(X, y) != first


def test_split_dataset_is_stratified() -> None:
    X, y = data.load_dataset()
    split = data.split_dataset(X, y, test_size=0.2, seed=42)
    assert len(split.X_test) == 30
    assert split.y_test.value_counts().to_dict() == {
        "setosa": 10,
        "versicolor": 10,
        "virginica": 10,
    }


def test_split_dataset_seed_changes_split() -> None:
    X, y = data.load_dataset()
    a = data.split_dataset(X, y, 0.2, seed=1)
    b = data.split_dataset(X, y, 0.2, seed=2)
    assert list(a.X_test.index) != list(b.X_test.index)


@pytest.mark.parametrize("test_size", [0.01, 0.99])
def test_split_dataset_rejects_sizes_that_empty_a_class(test_size: float) -> None:
    X, y = data.load_dataset()
    with pytest.raises(InvalidSplitError, match=r"test size .* choose a value nearer 0.2"):
        data.split_dataset(X, y, test_size, seed=0)


def test_prepare_loads_and_splits_like_the_parts() -> None:
    dataset = data.prepare("iris", test_size=0.2, seed=42)
    X, y = data.load_dataset()
    expected = data.split_dataset(X, y, 0.2, seed=42)
    assert dataset.X.equals(X) and dataset.y.equals(y)
    assert dataset.split.X_test.equals(expected.X_test)
    assert dataset.split.y_train.equals(expected.y_train)
    assert (dataset.name, dataset.target, dataset.positive_class) == ("iris", "species", None)


def test_prepare_rejects_a_split_that_empties_a_class() -> None:
    with pytest.raises(InvalidSplitError, match=r"test size 0.01"):
        data.prepare("iris", test_size=0.01, seed=0)


def test_model_contract_states_the_iris_facts() -> None:
    dataset = data.prepare("iris", test_size=0.2, seed=42)
    contract = data.model_contract(dataset, np.array(["setosa", "versicolor", "virginica"]))
    assert contract.dataset == "iris"
    assert contract.target == "species"
    assert contract.classes == ["setosa", "versicolor", "virginica"]
    assert contract.positive_class is None
    assert contract.feature_names == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    for feature in contract.features:
        assert feature.type == "float"
        assert feature.bounds() == {"gt": 0, "le": 100}
        assert feature.description == "cm, in (0, 100]"
    assert contract.verification_rows == np.asarray(load_iris().data, dtype=float).tolist()


def test_model_contract_of_a_table_with_gaps_and_categories_keeps_encoded_rows() -> None:
    dataset = data.prepare("penguins", test_size=0.2, seed=42)
    contract = data.model_contract(dataset, ["Adelie", "Chinstrap", "Gentoo"])
    assert not dataset.plain
    island = contract.features[contract.feature_names.index("island")]
    assert island.categories == ["Biscoe", "Dream", "Torgersen"]
    rows = contract.verification_rows
    assert len(rows) == len(dataset.X) == 344
    j = contract.feature_names.index("island")
    assert [island.categories[int(r[j])] for r in rows] == dataset.X["island"].tolist()
    k = contract.feature_names.index("bill_length_mm")
    gaps = dataset.X["bill_length_mm"].isna().tolist()
    assert [r[k] is None for r in rows] == gaps and sum(gaps) == 2


def test_model_contract_keeps_at_most_max_verification_rows_evenly_spaced() -> None:
    dataset = data.prepare("synthetic", test_size=0.2, seed=42)
    limit = data.MAX_VERIFICATION_ROWS
    contract = data.model_contract(dataset, sorted(set(dataset.y)))
    rows = contract.verification_rows
    assert len(dataset.X) >= limit and len(rows) == limit
    names = contract.feature_names
    assert rows[0] == dataset.X[names].iloc[0].tolist()
    assert rows[-1] == dataset.X[names].iloc[-1].tolist()


def test_dataset_sha256_covers_category_columns() -> None:
    dataset = data.prepare("penguins", test_size=0.2, seed=42)
    first = data.dataset_sha256(dataset.X, dataset.y)
    changed = dataset.X.copy()
    changed.loc[0, "island"] = "Dream" if changed.loc[0, "island"] != "Dream" else "Biscoe"
    assert data.dataset_sha256(changed, dataset.y) != first
    assert first == data.dataset_sha256(dataset.X.copy(), dataset.y.copy())
