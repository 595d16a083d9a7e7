"""The peers of `make bench` (bench/peers.py): their bodies, configuration, venv cache and
the parsing of their answers, without installing them (CI has no MLServer or BentoML; the
real peers are checked by the full `bench/run.py`, which compares their answers with
petalflow's before driving them).

tests/bench/peer_responses.json holds recorded answers of petalflow /predict/batch,
MLServer 1.7.1 (V2, ``predict_proba``) and bench/bento_iris.py under BentoML 1.4.40 to
the same three Iris rows, from one logreg model.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench import peers, report, run
from bench.goals import peer_goals
from bench.loadgen import BenchError
from bench.payloads import ONE_ROW, batch_rows, v2_request, write_bodies
from bench.suite import BATCH, SINGLE, Cell, Summary, scenarios
from petalflow.training.data import FEATURE_NAMES

SAMPLES = json.loads((Path(__file__).parent / "peer_responses.json").read_text())


def _bytes(name: str, body: Any = None) -> bytes:
    return json.dumps(SAMPLES[name] if body is None else body).encode()


@pytest.mark.parametrize("n", [1, 3, 1000])
def test_v2_request_carries_the_rows_of_petalflows_body(n: int) -> None:
    rows = batch_rows()[:n]
    body = v2_request(rows)
    (tensor,) = body["inputs"]
    assert tensor["shape"] == [n, 4] and tensor["datatype"] == "FP64"
    expected = pd.DataFrame(rows)[["sepal_length", "sepal_width", "petal_length", "petal_width"]]
    got = np.array(tensor["data"]).reshape(tensor["shape"])
    np.testing.assert_array_equal(got, expected.to_numpy())
    assert body["outputs"] == [{"name": "predict_proba"}]


def test_written_bodies_send_the_same_flower_to_every_server(tmp_path: Path) -> None:
    paths = write_bodies(tmp_path)
    v2_one = json.loads(paths["v2_1"].read_text())["inputs"][0]["data"]
    assert v2_one == [ONE_ROW[name] for name in FEATURE_NAMES] == [6.3, 2.9, 5.6, 1.8]
    v2_batch = json.loads(paths["v2_1000"].read_text())["inputs"][0]["data"]
    instances = json.loads(paths["instances_1000"].read_text())["instances"]
    assert v2_batch == [row[name] for row in instances for name in FEATURE_NAMES]
    columnar = json.loads(paths["columns_1000"].read_text())
    assert columnar["columns"] == list(FEATURE_NAMES)
    assert [dict(zip(FEATURE_NAMES, r, strict=True)) for r in columnar["data"]] == instances


def test_mlserver_config_has_no_worker_pool_and_the_joblib_model(tmp_path: Path) -> None:
    model = tmp_path / "logreg" / "model.joblib"
    folder = peers.write_mlserver_config(tmp_path / "repo", model, (18080, 18081, 18082))
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["parallel_workers"] == 0  # 1, the default, crashes with uvloop >= 0.22
    assert (settings["host"], settings["http_port"]) == ("127.0.0.1", 18080)
    assert (settings["grpc_port"], settings["metrics_port"]) == (18081, 18082)
    model_settings = json.loads((folder / "iris" / "model-settings.json").read_text())
    assert model_settings["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert model_settings["name"] == "iris" and peers.INFER_PATH == "/v2/models/iris/infer"
    assert model_settings["parameters"]["uri"] == str(model)
    # Adaptive batching stays off: MLServer batches only when max_batch_size > 1.
    assert "max_batch_size" not in model_settings and "max_batch_time" not in model_settings


def test_batch_outcomes_read_each_servers_answer() -> None:
    expected = [
        [0.03331984748561907, 0.9263696499755173, 0.040310502538863466],
        [0.9788180050826797, 0.021181631095507844, 3.6382181249057543e-07],
        [0.0010561120699561022, 0.1955839131016283, 0.8033599748284156],
    ]
    labels = ["versicolor", "setosa", "virginica"]
    assert peers.batch_outcomes("pf_batch", _bytes("pf_batch")) == (labels, expected)
    assert peers.batch_outcomes("bentoml", _bytes("bentoml")) == (labels, expected)
    assert peers.batch_outcomes("mlserver", _bytes("mlserver")) == (None, expected)
    columnar = {  # the answer's class order, not sorted: rows come back in sorted order
        "labels": labels,
        "classes": ["virginica", "setosa", "versicolor"],
        "probabilities": [[r[2], r[0], r[1]] for r in expected],
        "model_version": "abc",
        "latency_ms": 1.0,
    }
    assert peers.batch_outcomes("pf_columnar", json.dumps(columnar).encode()) == (labels, expected)


@pytest.mark.parametrize("key", ["mlserver", "bentoml"])
def test_recorded_peer_answers_agree_with_petalflow(key: str) -> None:
    peers.check_agreement(_bytes("pf_batch"), _bytes(key), key)


def test_a_probability_off_by_more_than_the_tolerance_is_refused() -> None:
    body = copy.deepcopy(SAMPLES["mlserver"])
    body["outputs"][0]["data"][4] += 2e-9
    with pytest.raises(BenchError, match=r"MLServer's probabilities differ .* up to 2e-09"):
        peers.check_agreement(_bytes("pf_batch"), _bytes("mlserver", body), "mlserver")
    body["outputs"][0]["data"][4] -= 1.5e-9  # 5e-10 off: within 1e-9
    peers.check_agreement(_bytes("pf_batch"), _bytes("mlserver", body), "mlserver")


@pytest.mark.parametrize("key", ["mlserver", "bentoml"])
def test_a_label_other_than_petalflows_is_refused(key: str) -> None:
    ours = copy.deepcopy(SAMPLES["pf_batch"])
    ours["predictions"][2]["predicted_label"] = "versicolor"  # not the most probable
    with pytest.raises(BenchError, match="labels differ"):
        peers.check_agreement(_bytes("pf_batch", ours), _bytes(key), key)


def test_missing_rows_or_classes_are_refused() -> None:
    short = copy.deepcopy(SAMPLES["bentoml"])[:2]
    with pytest.raises(BenchError, match="BentoML answered 2 rows, petalflow 3"):
        peers.check_agreement(_bytes("pf_batch"), _bytes("bentoml", short), "bentoml")
    body = copy.deepcopy(SAMPLES["mlserver"])
    body["outputs"][0]["shape"] = [3, 2]
    body["outputs"][0]["data"] = body["outputs"][0]["data"][:6]
    with pytest.raises(BenchError, match="other classes"):
        peers.check_agreement(_bytes("pf_batch"), _bytes("mlserver", body), "mlserver")


def test_venv_folder_changes_with_the_pins(tmp_path: Path) -> None:
    peer = peers.PEERS["mlserver"]
    assert peers.venv_dir(peer, tmp_path) == peers.venv_dir(peer, tmp_path)
    other = peers.Peer(peer.key, peer.label, ("mlserver==1.7.0",), peer.health)
    assert peers.venv_dir(other, tmp_path) != peers.venv_dir(peer, tmp_path)
    assert peers.venv_dir(peer, tmp_path).name.startswith("mlserver-")
    assert "scikit-learn==" in " ".join(peer.pins())  # the model's library, same version


def test_a_finished_venv_is_reused_and_a_half_built_one_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = peers.PEERS["bentoml"]
    calls: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        if command[1:3] == ["-m", "venv"]:
            Path(command[3]).mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(peers.subprocess, "run", fake_run)
    folder = peers.venv_dir(peer, tmp_path)
    folder.mkdir(parents=True)
    (folder / "leftover").write_text("from a build that was interrupted")
    assert peers.ensure_venv(peer, tmp_path) == folder
    assert not (folder / "leftover").exists()
    assert calls[0][1:] == ["-m", "venv", str(folder)]
    assert calls[1][:4] == [str(folder / "bin" / "python"), "-m", "pip", "install"]
    assert "bentoml==1.4.40" in calls[1]
    calls.clear()
    assert peers.ensure_venv(peer, tmp_path) == folder  # stamped: nothing runs
    assert calls == []


def test_a_failed_install_names_the_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "No matching distribution")

    monkeypatch.setattr(peers.subprocess, "run", fail)
    with pytest.raises(
        BenchError,
        match=r"building MLServer's venv in .* failed \(`--peers none` runs .*\):\nNo matching",
    ):
        peers.ensure_venv(peers.PEERS["mlserver"], tmp_path)
    assert not (peers.venv_dir(peers.PEERS["mlserver"], tmp_path) / ".installed").exists()


def test_peers_join_the_full_run_only() -> None:
    assert run.parse_args(["--quick"]).peers == ()
    assert run.parse_args([]).peers == ("mlserver", "bentoml")
    assert run.parse_args(["--peers", "none"]).peers == ()
    assert run.parse_args(["--quick", "--peers", "bentoml"]).peers == ("bentoml",)
    with pytest.raises(SystemExit):
        run.parse_args(["--peers", "torchserve"])
    # Iris only: MLServer's scikit-learn runtime decodes one numeric tensor.
    assert run.parse_args(["--datasets", "penguins"]).peers == ()


def test_peer_cells_join_the_groups_of_their_test() -> None:
    groups = scenarios("logreg", [1, 16], peers=("mlserver", "bentoml"))
    by_group = [{(c.key, c.test, c.connections, c.path) for c in g} for g in groups]
    for conns, group in zip((1, 16), by_group[:2], strict=True):
        assert ("mlserver", SINGLE, conns, "/v2/models/iris/infer") in group
        assert ("bentoml", SINGLE, conns, "/predict") in group
        assert ("pf", SINGLE, conns, "/predict") in group  # interleaved with petalflow's
    assert ("mlserver", BATCH, 16, "/v2/models/iris/infer") in by_group[2]
    assert ("bentoml", BATCH, 16, "/predict_batch") in by_group[2]
    bodies = {(c.key, c.test): (c.body, c.rows) for g in groups for c in g}
    assert bodies["mlserver", BATCH] == ("v2_1000", 1000)
    assert bodies["bentoml", BATCH] == ("instances_1000", 1000)
    plain = [c.key for g in scenarios("logreg", [1, 16]) for c in g]
    assert not set(plain) & set(peers.PEERS)


def _summary(model: str, test: str, key: str, rps: float, conns: int = 16) -> Summary:
    cell = Cell(model, test, conns, key, "/x", "body", 1000 if test == BATCH else 1)
    return Summary(cell, rps, 1.0, 2.0, 0, 2)


def test_peer_goals_compare_petalflows_batch_and_row_with_mlservers() -> None:
    summaries = [
        _summary("logreg", BATCH, "pf_columnar", 150),  # 150,000 rows/s
        _summary("logreg", BATCH, "pf_batch", 90),  # the row form: not the batch compared
        _summary("logreg", BATCH, "pf", 900),  # /invocations: not the batch compared
        _summary("logreg", BATCH, "mlserver", 100),  # 1.5x: inclusive
        _summary("logreg", SINGLE, "pf", 4990),
        _summary("logreg", SINGLE, "mlserver", 1000),  # 4.99x
        _summary("rf", BATCH, "pf_columnar", 190),
        _summary("rf", BATCH, "mlserver", 100),  # 1.9x: rf's target is 2x
    ]
    found = {(g.name, g.model): g for g in peer_goals(summaries, conns=16)}
    batch, single = (
        "columnar 1,000-row batch rows/s vs MLServer, 16 conns",
        "/predict req/s vs MLServer, 16 conns",
    )
    assert [(g.value, g.target, g.verdict) for g in [found[batch, "logreg"]]] == [
        (1.5, 1.5, "PASS")
    ]
    assert (found[batch, "rf"].value, found[batch, "rf"].target) == (1.9, 2)
    assert found[batch, "rf"].verdict == "FAIL"
    assert (found[single, "logreg"].value, found[single, "logreg"].verdict) == (4.99, "FAIL")
    assert found[single, "rf"].verdict == "n/a"
    assert len(found) == 4  # one batch goal per model, with its own target


def test_peers_table_gives_petalflow_over_peer() -> None:
    summaries = [
        _summary("rf", SINGLE, "pf", 2000),
        _summary("rf", SINGLE, "bentoml", 80),
        _summary("rf", BATCH, "pf_columnar", 30),
        _summary("rf", BATCH, "pf_batch", 20),
        _summary("rf", BATCH, "mlserver", 40),
        _summary("rf", BATCH, "bentoml", 10),
    ]
    rows = report.peers_table(summaries)[2:]
    assert rows == [  # MLServer beside the columnar form, BentoML beside the row form
        "| rf | single row | 16 | BentoML /x | 2,000 req/s | 80 req/s | 25.00x |",
        "| rf | 1,000-row batch | 16 | MLServer /x | 30,000 rows/s | 40,000 rows/s | 0.75x |",
        "| rf | 1,000-row batch | 16 | BentoML /x | 20,000 rows/s | 10,000 rows/s | 2.00x |",
    ]


def test_sizes_table_names_what_each_answer_holds() -> None:
    mlserver = Cell("logreg", BATCH, 16, "mlserver", peers.INFER_PATH, "v2_1000", 1000)
    ours = Cell("logreg", BATCH, 16, "pf_batch", "/predict/batch", "instances_1000", 1000)
    single = Cell("logreg", SINGLE, 1, "pf", "/predict", "predict")
    again = Cell("logreg", SINGLE, 16, "pf", "/predict", "predict")
    sizes = {mlserver: (16112, 60866), ours: (76015, 150051), single: (75, 219), again: (75, 219)}
    rows = report.sizes_table(sizes)[2:]
    assert len(rows) == 3  # the body does not depend on the connection count
    assert rows[0].startswith(
        "| logreg | 1,000-row batch | MLServer /v2/models/iris/infer "
        "| 16,112 | 60,866 | probabilities only"
    )
    assert "no labels" in rows[0]
    assert rows[1].startswith(
        "| logreg | 1,000-row batch | petalflow /predict/batch | 76,015 "
        "| 150,051 | per row: label + every class's probability"
    )
