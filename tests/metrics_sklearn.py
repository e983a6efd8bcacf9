#!/usr/bin/env python3
"""glueq's metrics against scikit-learn and scipy on the same predictions, to TOL.

    metrics_sklearn.py cases METRICS_DUMP      hand-picked and random cases through tests/metrics_dump
    metrics_sklearn.py sweep RESULTS_DIR       every row of a sweep's results.json against its
                                               predictions.jsonl
Reference values: sklearn.metrics accuracy_score, f1_score (pos_label 1, zero_division 0)
and matthews_corrcoef; scipy.stats pearsonr (with its Fisher-z confidence_interval) and
spearmanr. Where glueq defines what the libraries leave to the caller: the Wilson interval
with z = scipy.special.ndtri(0.975), Spearman's interval tanh(atanh(rho) +- z sqrt((1 +
rho^2/2) / (n - 3))) (Bonett and Wright), undefined (null) where scipy returns NaN. Exit 1
on any difference, printing each.
"""

import json
import math
import subprocess
import sys
import warnings

try:
    import numpy as np
    from scipy import special, stats
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
except ImportError as e:
    sys.exit("metrics_sklearn.py: %s: install python3-sklearn and python3-scipy (scripts/setup.sh)" % e)

TOL = 1e-12  # glueq computes in double as the libraries do; measured differences are below 1e-15
Z = float(special.ndtri(0.975))
failures = 0
largest = 0.0  # the largest difference seen, for the summary line


def close(what, got, want):
    global failures, largest
    if want is None or (isinstance(want, float) and math.isnan(want)):
        ok = got is None
    else:
        ok = got is not None and abs(got - want) <= TOL
        if got is not None:
            largest = max(largest, abs(got - want))
    if not ok:
        failures += 1
        print("FAIL %s: glueq %r, reference %r" % (what, got, want))


def wilson(k, n):
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, Z * Z
    d = 1 + z2 / n
    c, h = (p + z2 / (2 * n)) / d, Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / d
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


def reference_class(gold, pred, k):
    ref = {"accuracy": accuracy_score(gold, pred), "correct": int(np.sum(np.array(gold) == np.array(pred))),
           "total": len(gold), "mcc": matthews_corrcoef(gold, pred) if len(gold) else 0.0}
    ref["acc_lo"], ref["acc_hi"] = wilson(ref["correct"], len(gold))
    ref["mcc_score"] = ref["mcc"]
    if k == 2:
        ref["f1"] = f1_score(gold, pred, pos_label=1, average="binary", zero_division=0)
        ref["f1_score"] = ref["f1"]
    else:
        ref["f1"] = None
    return ref


def fisher(r, n, se):
    if r is None or math.isnan(r):
        return None, None
    if n <= 3:
        return -1.0, 1.0
    z = math.inf if r >= 1 else -math.inf if r <= -1 else math.atanh(r)
    return math.tanh(z - Z * se), math.tanh(z + Z * se)


def reference_reg(gold, pred):
    n = len(gold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on the constant inputs these cases include
        pr = stats.pearsonr(pred, gold) if n >= 2 else None
        r = float(pr.statistic) if pr is not None else math.nan
        rho = float(stats.spearmanr(pred, gold).correlation) if n >= 2 else math.nan
    ref = {"pearson": r, "spearman": rho, "pearson_score": r, "spearman_score": rho}
    if math.isnan(r):
        ref["pearson_lo"] = ref["pearson_hi"] = None
    else:
        ci = pr.confidence_interval(0.95)
        ref["pearson_lo"], ref["pearson_hi"] = float(ci.low), float(ci.high)
    ref["spearman_lo"], ref["spearman_hi"] = fisher(rho, n, math.sqrt((1 + rho * rho / 2) / (n - 3)) if n > 3 else 0)
    return ref


def compare(name, got, ref):
    for key, want in ref.items():
        close("%s: %s" % (name, key), got.get(key), want)


def cases():
    rng = np.random.RandomState(20260104)
    out = []
    for n, k in ((8, 2), (50, 2), (408, 2), (1043, 2), (100, 3), (9815, 3)):
        gold = rng.randint(0, k, n)
        pred = np.where(rng.rand(n) < 0.7, gold, rng.randint(0, k, n))
        out.append(("random %d-class n=%d" % (k, n), "class", k, gold.tolist(), pred.tolist()))
    g = rng.randint(0, 2, 30).tolist()
    out += [
        ("one class predicted only: MCC 0", "class", 2, g, [1] * 30),
        ("one class in gold and predictions", "class", 2, [0] * 12, [0] * 12),
        ("all wrong", "class", 2, g, [1 - x for x in g]),
        ("all right", "class", 2, g, g),
        ("no positive predicted: F1 0", "class", 2, g, [0] * 30),
        ("3 classes, one never predicted", "class", 3, [0, 1, 2, 2, 1, 0, 2], [0, 1, 1, 1, 1, 0, 0]),
        ("one example", "class", 2, [1], [0]),
    ]
    for n in (4, 20, 1500):
        gold = np.round(rng.uniform(0, 5, n), 3)
        pred = (gold * 0.6 + rng.normal(0, 1, n)).astype(np.float32).astype(np.float64)
        out.append(("random scores n=%d" % n, "reg", 0, gold.tolist(), pred.tolist()))
    ties = [0.0, 1.0, 1.0, 2.5, 2.5, 2.5, 4.0, 5.0, 5.0, 3.2]
    out += [
        ("tied gold scores", "reg", 0, ties, [0.1, 0.3, 0.2, 0.9, 0.4, 0.4, 1.2, 2.0, 1.5, 0.7]),
        ("constant prediction: undefined", "reg", 0, ties, [0.25] * 10),
        ("constant gold: undefined", "reg", 0, [2.0] * 6, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        ("perfect order", "reg", 0, [0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.5, 4.0, 9.0]),
        ("reversed", "reg", 0, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 4.0, 3.0, 2.0, 1.0, -7.0]),
        ("two examples", "reg", 0, [1.0, 4.0], [0.5, 0.25]),
        ("three examples: interval (-1, 1)", "reg", 0, [1.0, 4.0, 2.0], [0.5, 0.25, 0.3]),
    ]
    return out


def run_cases(dump):
    cs = cases()
    lines = "".join(json.dumps({"kind": kind, "k": k, "gold": g, "pred": p}) + "\n" for _, kind, k, g, p in cs)
    res = subprocess.run([dump], input=lines, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("metrics_dump failed: %s" % res.stderr)
    got = [json.loads(x) for x in res.stdout.splitlines()]
    if len(got) != len(cs):
        sys.exit("metrics_dump: %d results for %d cases" % (len(got), len(cs)))
    for (name, kind, k, g, p), o in zip(cs, got):
        compare(name, o, reference_class(g, p, k) if kind == "class" else reference_reg(g, p))
    return len(cs)


def run_sweep(out):
    """Each row's metrics in results.json (MNLI's mismatched file in the "_mm" keys) against
    the libraries' on the row's labels and predictions in predictions.jsonl."""
    rows = json.load(open(out + "/results.json"))["rows"]
    preds = {}
    for line in open(out + "/predictions.jsonl"):
        p = json.loads(line)
        preds[p["point_id"]] = p
    for r in rows:
        p = preds[r["point_id"]]
        sizes = p.get("parts", [len(p["labels"])])
        name = "%s %s k=%s" % (r["task"], r["method"], r["k"])
        start = 0
        for i, size in enumerate(sizes):
            gold, pred = p["labels"][start:start + size], p["preds"][start:start + size]
            start += size
            sfx = "_mm" if i else ""
            if p["n_labels"] == 1:
                # predicted scores are float32 logits printed with 9 digits: read back exactly
                pred = [float(np.float32(x)) for x in pred]
                ref = reference_reg(gold, pred)
                keys = ["pearson", "pearson_lo", "pearson_hi", "spearman", "spearman_lo", "spearman_hi"]
            else:
                ref = reference_class(gold, pred, p["n_labels"])
                keys = ["accuracy", "acc_lo", "acc_hi", "correct", "total"]
                if r.get("f1") is not None:
                    keys.append("f1")
                if r.get("mcc") is not None or r["task"] == "cola":
                    keys.append("mcc")
            for k in keys:
                close("%s: %s%s" % (name, k, sfx), r.get(k + sfx), ref[k])
    return len(rows)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("cases", "sweep"):
        sys.exit(__doc__)
    n = run_cases(sys.argv[2]) if sys.argv[1] == "cases" else run_sweep(sys.argv[2])
    print("metrics_sklearn.py %s: %d %s, largest difference %.3g, %d beyond %g" % (
        sys.argv[1], n, "cases" if sys.argv[1] == "cases" else "rows", largest, failures, TOL))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
