#!/usr/bin/env python3
"""Saliency heuristics written in numpy, evaluated in process with the glueq package: scores
every weight of the matrices glueq quantizes (the six Linear weights of each transformer
block) and evaluates the model quantized with them kept in FP32, beside glueq's magnitude
method, with a paired comparison. Needs numpy and glueq (python/README.md).

    python3 examples/saliency_numpy.py MODEL --task rte [--heuristic colnorm] [--bits 4] [--k 256]

With an output file it writes the scores instead, as a safetensors file for
`glueq eval --method external --scores FILE` (needs the safetensors package, not glueq):

    python3 examples/saliency_numpy.py MODEL_DIR scores.safetensors [--heuristic colnorm]

Heuristics (larger = keep in FP32); add yours to HEURISTICS:
    magnitude  |W_ij|                      (equals glueq's `magnitude`: checks the pipeline)
    colnorm    |W_ij| * ||W_:j||_2         (magnitude weighted by its input column's norm)
    rowcol     |W_ij| * ||W_i:||_2 * ||W_:j||_2
"""
import argparse
import os
import re
import sys

import numpy as np

QUANTIZED = re.compile(r"^distilbert\.transformer\.layer\.\d+\.(attention\.(q|k|v|out)_lin|ffn\.lin[12])\.weight$")

HEURISTICS = {
    "magnitude": lambda w: np.abs(w),
    "colnorm": lambda w: np.abs(w) * np.linalg.norm(w, axis=0, keepdims=True),
    "rowcol": lambda w: np.abs(w) * np.linalg.norm(w, axis=1, keepdims=True) * np.linalg.norm(w, axis=0, keepdims=True),
}


def score_all(weights, heuristic):
    score = HEURISTICS[heuristic]
    return {name: score(w.astype(np.float32)).astype(np.float32) for name, w in weights.items()
            if QUANTIZED.match(name)}


def evaluate(args):
    import glueq
    glueq.set_log_level(1)
    m = glueq.load(args.model)
    scores = score_all(m.weights(), args.heuristic)
    common = dict(bits=args.bits, k=args.k, limit=args.limit)
    mine = m.evaluate(args.task, scores=scores, **common)
    base = m.evaluate(args.task, method="magnitude", **common)
    for name, r in ((args.heuristic, mine), ("magnitude", base)):
        print(f"{name:10s} accuracy {100 * r.accuracy:.2f}% ({r.correct}/{r.total}) "
              f"[95% CI {100 * r.ci[0]:.2f}-{100 * r.ci[1]:.2f}], {r.effective_bits:.3f} bits, point {r.point_id}")
    c = glueq.compare(base, mine)
    print(f"{args.heuristic} - magnitude: {100 * c.diff:+.2f} points [{100 * c.ci[0]:+.2f}, {100 * c.ci[1]:+.2f}], "
          f"McNemar p {c.p:.3g}")


def write(args):
    from safetensors.numpy import load_file, save_file
    path = os.path.join(args.model, "model.safetensors") if os.path.isdir(args.model) else args.model
    if not os.path.isfile(path):
        sys.exit(f"saliency_numpy.py: {path}: no such file (a model.safetensors is needed)")
    scores = score_all(load_file(path), args.heuristic)
    if not scores:
        sys.exit(f"saliency_numpy.py: {path}: no DistilBERT encoder weights found")
    for name, s in scores.items():
        if not np.all(np.isfinite(s)):
            sys.exit(f"saliency_numpy.py: {name}: the heuristic gave non-finite scores")
    tmp = args.out + ".tmp"
    save_file(scores, tmp)
    os.replace(tmp, args.out)
    print(f"{args.out}: {args.heuristic} scores of {len(scores)} matrices", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="checkpoint directory or Hub id (writing: the directory or its model.safetensors)")
    ap.add_argument("out", nargs="?", help="write the scores to this safetensors file instead of evaluating")
    ap.add_argument("--heuristic", choices=sorted(HEURISTICS), default="colnorm")
    ap.add_argument("--task", default="rte")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--limit", type=int, help="first rows of the dev split only")
    args = ap.parse_args()
    write(args) if args.out else evaluate(args)


if __name__ == "__main__":
    main()
