"""glueq.compare on result paths against `glueq compare` on the same sweep outputs: every
number the command prints, the counts and the McNemar p-value computed here from
predictions.jsonl, and the command's error lines."""
import json
import math
import os
import re

import pytest

import glueq
from conftest import MLM_RTE, SRC, TINY_A, cli

LIMIT = 48
# glueq compare's accuracy line (RTE has no other metric): task, A (description and id
# prefix), B, acc A (correct/n), acc B, B-A [95% CI] in points, McNemar p.
LINE = re.compile(r"^(\S+) +accuracy +(.+?) ([0-9a-f]{8}) +(.+?) ([0-9a-f]{8}) +([\d.]+) \((\d+)/(\d+)\) "
                  r"+([\d.]+) \((\d+)/(\d+)\) +([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\] +(\S+)")


def sweep_config(out, model, limit=LIMIT):
    return {"name": "cmp", "data": os.environ["GLUEQ_ASSETS"] + "/glue", "models": {"rte": model}, "tasks": ["rte"],
            "methods": ["uniform", "magnitude"], "bits": [2, 3], "budgets": {"k": [16]}, "limit": limit,
            "threads": 1, "output": str(out)}


def cli_sweep(tmp, name, model, limit=LIMIT):
    (tmp / f"{name}.json").write_text(json.dumps(sweep_config(tmp / name, model, limit)))
    rc, _, err = cli("sweep", str(tmp / f"{name}.json"), "--quiet")
    assert rc == 0, err
    return str(tmp / name)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same grid on two models (so every point id pairs, with different predictions),
    and on fewer rows (other ids, other examples)."""
    tmp = tmp_path_factory.mktemp("cmp")
    return {"a": cli_sweep(tmp, "a", MLM_RTE), "b": cli_sweep(tmp, "b", TINY_A),
            "short": cli_sweep(tmp, "short", TINY_A, 16)}


def cli_compare(*args):
    rc, out, err = cli("compare", *args)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["task", "metric", "A", "B"]
    return [LINE.match(line).groups() for line in lines[1:]]


def predictions(results):
    with open(os.path.join(results, "predictions.jsonl"), encoding="utf-8") as f:
        return {p["point_id"]: p for p in map(json.loads, f)}


def mcnemar_exact(b, c):
    """Two-sided exact McNemar test: the binomial tail of min(b, c) in b + c at 1/2, doubled."""
    n = b + c
    return 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n)


def check_against_cli(got, printed, pa, pb):
    assert len(got) == len(printed) and printed
    for c, row in zip(got, printed):
        task, da, ia, db, ib, acc_a, ca, n, acc_b, cb, _, diff, lo, hi, p = row
        assert (c.task, c.description_a, c.point_id_a[:8], c.description_b, c.point_id_b[:8]) == (task, da, ia, db, ib)
        assert (c.n, c.correct_a, c.correct_b) == (int(n), int(ca), int(cb))
        assert (f"{100 * c.accuracy_a:.2f}", f"{100 * c.accuracy_b:.2f}") == (acc_a, acc_b)
        assert [f"{100 * x:+.2f}" for x in (c.diff, *c.ci)] == [diff, lo, hi]
        assert f"{c.p:.4g}" == p
        a, b = pa[c.point_id_a], pb[c.point_id_b]
        right_a = [x == y for x, y in zip(a["preds"], a["labels"])]
        right_b = [x == y for x, y in zip(b["preds"], b["labels"])]
        assert c.only_a == sum(x and not y for x, y in zip(right_a, right_b))
        assert c.only_b == sum(y and not x for x, y in zip(right_a, right_b))
        assert c.diff == pytest.approx((sum(right_b) - sum(right_a)) / c.n, abs=1e-12)
        assert c.p == pytest.approx(mcnemar_exact(c.only_a, c.only_b), rel=1e-12)


def test_every_common_point_as_glueq_compare_prints_it(sweeps):
    a, b = sweeps["a"], sweeps["b"]
    got = glueq.compare(a, b)
    check_against_cli(got, cli_compare(a, b), predictions(a), predictions(b))
    assert len(got) == 5 and any(c.p < 1 for c in got)  # fp32 and four quantized points, not all alike
    again = glueq.compare(os.path.join(a, "results.json"), b, task="rte")
    assert [c.to_dict() for c in again] == [c.to_dict() for c in got]


def test_two_points_named_by_id(sweeps):
    a, short = sweeps["a"], sweeps["short"]
    ids_a = [r["point_id"] for r in json.load(open(os.path.join(a, "results.json")))["rows"]]
    spec_a, spec_b = f"{a}#{ids_a[1]}", f"{a}/results.json#{ids_a[3]}"
    got = glueq.compare(spec_a, spec_b)
    check_against_cli(got, cli_compare(spec_a, spec_b), predictions(a), predictions(a))
    assert len(got) == 1 and got[0].point_id_a != got[0].point_id_b


@pytest.mark.parametrize("make", [
    lambda s: (s["a"], s["short"], None),                                    # no common point
    lambda s: (s["a"], s["b"], "mrpc"),                                      # none of that task
    lambda s: (s["a"] + "#" + first_id(s["a"]), s["b"], None),               # an id on one side only
    lambda s: (s["a"] + "#" + first_id(s["a"]), s["b"] + "#0123456789abcdef", None),  # no such point
    lambda s: (s["a"] + "#" + first_id(s["a"]), s["short"] + "#" + first_id(s["short"]), None),  # other examples
    lambda s: (s["a"], "/nonexistent", None),
])
def test_errors_raise_the_commands_message(sweeps, make):
    a, b, task = make(sweeps)
    with pytest.raises(glueq.Error) as e:
        glueq.compare(a, b, task=task)
    rc, _, err = cli("compare", a, b, *(["--task", task] if task else []))
    assert rc == 1 and err.strip() == "glueq: " + str(e.value)


def first_id(results):
    return json.load(open(os.path.join(results, "results.json")))["rows"][0]["point_id"]


def test_every_metric_of_every_kind_of_task(tmp_path):
    """cola (MCC), stsb (a regression) and mnli (two dev files) on the fixture files: the
    lines of each pair as glueq compare prints them."""
    glue = os.path.join(SRC, "tests", "fixtures", "glue")
    models = {"cola": "tiny-glue-2", "stsb": "tiny-glue-1", "mnli": "tiny-glue-3"}
    cfg = {"name": "kinds", "data": glue, "models": {t: os.path.join(glue, "models", m) for t, m in models.items()},
           "tasks": list(models), "methods": ["uniform"], "bits": [4], "threads": 1, "output": str(tmp_path / "s")}
    (tmp_path / "kinds.json").write_text(json.dumps(cfg))
    rc, _, err = cli("sweep", str(tmp_path / "kinds.json"), "--quiet")
    assert rc == 0, err
    got = glueq.compare(str(tmp_path / "s"), str(tmp_path / "s"))
    rc, out, err = cli("compare", str(tmp_path / "s"), str(tmp_path / "s"))
    assert rc == 0, err
    printed = [line.split()[:2] for line in out.splitlines()[1:]]
    lines = [(c.task, m["metric"], m["file"], m["main"]) for c in got for m in c.metrics]
    assert [(t, m) for t, m, _, _ in lines] == [tuple(p) for p in printed]
    for t, main in (("cola", "mcc"), ("stsb", "pearson"), ("mnli", "accuracy")):
        assert (t, main, "dev_matched" if t == "mnli" else "dev", True) in lines
    assert ("mnli", "accuracy", "dev_mismatched", True) in lines and ("stsb", "spearman", "dev", False) in lines
    assert all(m["diff"] in (0, None) for c in got for m in c.metrics)
