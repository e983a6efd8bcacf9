"""glueq.Model.evaluate against the glueq command: every value `glueq eval --json` prints
for the same point, the predictions and logits and point ids `glueq sweep` records, and
in-memory scores against the same scores read from a file."""
import csv
import json
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

import glueq
from conftest import MLM_MRPC, MLM_RTE, TINY_A, TINY_B, cli, cli_eval

LIMIT = 24

# (model, task, options): FP32, each kind of method (plain, calibrated, seeded,
# transforming), budgets per matrix, global and as a fraction, other quantizers and
# calibrated algorithms, on the fixtures and the small MLM-pretrained models.
GRID = [
    (TINY_A, "rte", {}),
    (TINY_A, "rte", {"method": "uniform", "bits": 3}),
    (TINY_A, "rte", {"method": "magnitude", "k": 16}),
    (TINY_A, "rte", {"method": "random", "k": 64, "method_options": {"seed": 3}}),
    (TINY_B, "mrpc", {"method": "svd", "p": 0.01, "global_": True, "scheme": "asymmetric", "granularity": "row"}),
    (TINY_B, "mrpc", {"method": "awq", "k": 8, "calib_n": 8, "bits": 3}),
    (TINY_A, "rte", {"method": "magnitude", "k": 4, "algorithm": "gptq", "calib_n": 8, "act_order": True}),
    (TINY_A, "rte", {"method": "rosaq", "k": 4, "calib_n": 8}),
    (MLM_RTE, "rte", {}),
    (MLM_RTE, "rte", {"method": "svd", "k": 64, "bits": 3}),
    (MLM_MRPC, "mrpc", {"method": "spqr", "k": 32, "calib_n": 8, "clip": "absmax"}),
    (MLM_MRPC, "mrpc", {"method": "magnitude", "k": 128, "algorithm": "awq-scale", "calib_n": 8}),
]

_models = {}


def model(path):
    if path not in _models:
        _models[path] = glueq.load(path)
    return _models[path]


def flags(options):
    """The same options as the command's flags (written out here, not by the package)."""
    out = []
    for key, value in options.items():
        name = "--" + key.rstrip("_").replace("_", "-")
        if key == "method_options":
            for k, v in value.items():
                out += ["--method-opt", f"{k}={v}"]
        elif value is True:
            out.append(name)
        else:
            out += [name, str(value)]
    return out


@pytest.mark.parametrize("path,task,options", GRID, ids=lambda x: os.path.basename(x) if isinstance(x, str) else None)
def test_evaluate_gives_glueq_evals_values(path, task, options):
    r = model(path).evaluate(task, limit=LIMIT, threads=1, **options)
    want = cli_eval(path, "--task", task, "--limit", str(LIMIT), "--threads", "1", *flags(options))
    got = r.to_dict()
    assert set(got) == set(want) | {"point_id", "settings"}
    for key in want:
        if key != "seconds":  # the forward's time
            assert got[key] == want[key], key
    assert len(r.predictions) == len(r.labels) == r.logits.shape[0] == want["total"]
    assert r.logits.shape[1] == len(model(path).config["labels"])
    assert int(np.sum(r.predictions == r.labels)) == want["correct"]


GLUE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests", "fixtures",
                    "glue")
# Every kind of task on the fixture files: MCC (cola), a regression (stsb), two dev files and
# a label order from config.json (mnli), an explicit label map.
TASKS = [
    ("cola", "tiny-glue-2", {}),
    ("stsb", "tiny-glue-1", {"method": "uniform"}),
    ("mnli", "tiny-glue-3", {"method": "svd", "k": 4}),
    ("rte", "tiny-glue-2", {"label_map": "entailment=1,not_entailment=0"}),
]


@pytest.mark.parametrize("task,name,options", TASKS, ids=lambda x: x if isinstance(x, str) else None)
def test_every_glue_task_gives_glueq_evals_values(task, name, options):
    path = os.path.join(GLUE, "models", name)
    r = model(path).evaluate(task, data=GLUE, threads=1, **options)
    want = cli_eval(path, "--task", task, "--data", GLUE, "--threads", "1", *flags(options))
    got = r.to_dict()
    assert set(got) == set(want) | {"point_id", "settings"}
    for key in want:
        if key != "seconds":
            assert got[key] == want[key], key
    assert len(r.predictions) == len(r.labels) == r.logits.shape[0] == want["total"] + want.get("total_mm", 0)
    assert r.metric == want["pearson" if task == "stsb" else "mcc" if task == "cola" else "accuracy"]


def test_predictions_logits_and_point_ids_are_the_sweeps(tmp_path):
    config = {"name": "py", "data": os.environ["GLUEQ_ASSETS"] + "/glue", "models": {"rte": TINY_A},
              "tasks": ["rte"], "methods": ["uniform", "magnitude", "svd"], "bits": [4], "budgets": {"k": [16]},
              "quantizer": {"algorithm": ["rtn", "gptq"]}, "calibration": {"n": 8}, "limit": LIMIT, "threads": 1,
              "output": str(tmp_path / "out")}
    (tmp_path / "c.json").write_text(json.dumps(config))
    rc, _, err = cli("sweep", str(tmp_path / "c.json"), "--quiet")
    assert rc == 0, err
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    preds = {}
    for line in open(tmp_path / "out" / "predictions.jsonl"):
        p = json.loads(line)
        preds[p["point_id"]] = p
    assert len(rows) == 7  # fp32, then uniform, magnitude and svd with rtn and gptq
    for row in rows:
        options = {} if row["method"] == "fp32" else {"method": row["method"], "bits": 4, "calib_n": 8}
        if row["method"] not in ("fp32", "uniform"):
            options["k"] = 16
        if row["algorithm"] == "gptq":
            options["algorithm"] = "gptq"
        r = model(TINY_A).evaluate("rte", limit=LIMIT, threads=1, **options)
        assert r.point_id == row["point_id"], row
        assert r.accuracy == pytest.approx(float(row["accuracy"]), abs=1e-9)
        assert r.predictions.tolist() == preds[row["point_id"]]["preds"]
        assert r.logits.ravel().tolist() == np.float32(preds[row["point_id"]]["logits"]).tolist()


def weights_from_file(path):
    from safetensors.numpy import load_file
    return {k: v for k, v in load_file(os.path.join(path, "model.safetensors")).items() if k in model(path).weights()}


def colnorm(w):
    return (np.abs(w) * np.linalg.norm(w, axis=0, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("path,task", [(TINY_A, "rte"), (MLM_MRPC, "mrpc")])
def test_scores_in_memory_give_the_external_files_results(tmp_path, path, task):
    scores = {name: colnorm(w) for name, w in weights_from_file(path).items()}
    save_file(scores, str(tmp_path / "s.safetensors"))
    for bits, k in ((3, 8), (4, 256)):
        common = dict(limit=LIMIT, threads=1, bits=bits, k=k)
        mem = model(path).evaluate(task, scores=scores, **common)
        file = model(path).evaluate(task, method="external", method_options={"scores": tmp_path / "s.safetensors"},
                                    **common)
        want = cli_eval(path, "--task", task, "--method", "external", "--scores", str(tmp_path / "s.safetensors"),
                        *flags(common))
        for key in want:
            if key != "seconds":
                assert mem.to_dict()[key] == want[key], key
        assert mem.logits.tolist() == file.logits.tolist()
        # the id follows the scores' content: the same scores again, the same id
        assert mem.point_id == model(path).evaluate(task, scores=dict(scores), **common).point_id
    other = {name: s + np.float32(1) * (name.endswith("q_lin.weight")) for name, s in scores.items()}
    assert model(path).evaluate(task, scores=other, limit=LIMIT, threads=1).point_id != mem.point_id


def test_abs_weights_in_memory_give_magnitude():
    m = model(MLM_RTE)
    scores = {name: np.abs(w) for name, w in m.weights().items()}
    for k in (4, 64, 1024):
        mag = m.evaluate("rte", method="magnitude", k=k, limit=LIMIT, threads=1)
        ext = m.evaluate("rte", scores=scores, k=k, limit=LIMIT, threads=1)
        assert ext.logits.tolist() == mag.logits.tolist()
        assert (ext.protected, ext.effective_bits, ext.accuracy) == (mag.protected, mag.effective_bits, mag.accuracy)


def test_weights_are_read_only_views_of_the_fp32_matrices():
    m = model(TINY_B)
    first, again = m.weights(), m.weights()
    ref = weights_from_file(TINY_B)
    assert sorted(first) == sorted(ref) and len(first) == 6 * m.config["n_layers"]
    for name, w in first.items():
        assert w.dtype == np.float32 and not w.flags.writeable and not w.flags.owndata
        assert w.ctypes.data == again[name].ctypes.data  # the model's memory, not a copy
        assert np.array_equal(w, ref[name])
        with pytest.raises(ValueError):
            w[0, 0] = 1
    m.evaluate("mrpc", method="magnitude", k=4, limit=4, threads=1)
    for name, w in first.items():  # FP32 again once an evaluation returns
        assert np.array_equal(w, ref[name])


def test_results_outlive_their_model():
    w = glueq.load(TINY_A).weights()
    assert float(np.abs(w[sorted(w)[0]]).sum()) > 0  # the view keeps its model alive


@pytest.fixture(scope="module")
def good_scores():
    return {name: np.abs(w) for name, w in model(TINY_A).weights().items()}


Q_LIN = "distilbert.transformer.layer.0.attention.q_lin.weight"


def bad(scores, **changes):
    out = dict(scores)
    out.update(changes)
    return out


@pytest.mark.parametrize("change,message", [
    (lambda s: bad(s, **{Q_LIN: s[Q_LIN].T[:32]}), "scores: tensor '" + Q_LIN + "' has shape [32,64], the weight is [64,64]"),
    (lambda s: bad(s, **{Q_LIN: s[Q_LIN].astype(np.float64)}), "is float64, not float32"),
    (lambda s: bad(s, **{Q_LIN: s[Q_LIN].ravel()}), "has 1 dimensions, the weight has 2"),
    (lambda s: bad(s, **{Q_LIN: np.where(np.arange(64 * 64).reshape(64, 64) == 70, np.nan, s[Q_LIN]).astype(np.float32)}),
     "scores: tensor '" + Q_LIN + "' has a non-finite score (nan) at [1,6]"),
    (lambda s: {k: v for k, v in s.items() if k != Q_LIN}, "scores: no tensor '" + Q_LIN + "'"),
    (lambda s: bad(s, extra=s[Q_LIN]), "scores: unexpected tensor 'extra'"),
    (lambda s: [1, 2], "scores: a dict of name -> float32 array is needed"),
])
def test_bad_scores_raise(good_scores, change, message):
    with pytest.raises(glueq.Error) as e:
        model(TINY_A).evaluate("rte", scores=change(good_scores), k=4, limit=4, threads=1)
    assert message in str(e.value)


def test_non_contiguous_scores_are_copied(good_scores):
    fortran = {name: np.asfortranarray(s) for name, s in good_scores.items()}
    strided = {name: np.repeat(s, 2, axis=1)[:, ::2] for name, s in good_scores.items()}
    assert not fortran[Q_LIN].flags.c_contiguous and not strided[Q_LIN].flags.c_contiguous
    want = model(TINY_A).evaluate("rte", scores=good_scores, k=8, limit=LIMIT, threads=1)
    for scores in (fortran, strided):
        got = model(TINY_A).evaluate("rte", scores=scores, k=8, limit=LIMIT, threads=1)
        assert got.logits.tolist() == want.logits.tolist() and got.point_id == want.point_id


@pytest.mark.parametrize("options", [{"bits": 9}, {"method": "nope"}, {"k": 4, "p": 0.1, "method": "svd"},
                                     {"split": "nosuch"}, {"data": "/nonexistent"}, {"method": "external"},
                                     {"method": "svd", "method_options": {"rank": "x"}}])
def test_errors_raise_the_commands_message(options):
    with pytest.raises(glueq.Error) as e:
        model(TINY_A).evaluate("rte", limit=4, **options)
    rc, _, err = cli("eval", "--model", TINY_A, "--task", "rte", "--limit", "4", *flags(options))
    assert rc != 0 and err.strip() == "glueq: " + str(e.value)


def test_load_errors_raise_the_commands_message(tmp_path):
    for spec, task in ((str(tmp_path / "none"), "rte"), (TINY_A, "cola-x")):
        with pytest.raises(glueq.Error) as e:
            glueq.load(spec).evaluate(task)
        rc, _, err = cli("eval", "--model", spec, "--task", task)
        assert rc != 0 and err.strip() == "glueq: " + str(e.value)


def test_progress_goes_to_the_callback():
    seen = []
    r = model(MLM_RTE).evaluate("rte", limit=LIMIT, threads=1, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (r.total, r.total) and all(t == r.total for _, t in seen)


def test_compare_gives_glueq_compares_statistics(tmp_path):
    m = model(MLM_RTE)
    a = m.evaluate("rte", method="uniform", bits=3, threads=1)
    b = m.evaluate("rte", method="svd", bits=3, k=64, threads=1)
    c = glueq.compare(a, b)
    only_a = int(np.sum((a.predictions == a.labels) & (b.predictions != b.labels)))
    only_b = int(np.sum((a.predictions != a.labels) & (b.predictions == b.labels)))
    assert (c.n, c.correct_a, c.correct_b, c.only_a, c.only_b) == (a.total, a.correct, b.correct, only_a, only_b)
    assert c.diff == pytest.approx(b.accuracy - a.accuracy, abs=1e-12)
    assert c.ci[0] <= c.diff <= c.ci[1]
    with pytest.raises(glueq.Error):
        glueq.compare(a, m.evaluate("rte", limit=LIMIT))
