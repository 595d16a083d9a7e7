import pytest

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
