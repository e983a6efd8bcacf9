#!/usr/bin/env python3
"""Saliency from Python for `glueq --method external`: scores every weight of the matrices
glueq quantizes (the six Linear weights of each transformer block) with a heuristic
written in numpy, and writes them as a safetensors file, one F32 tensor per matrix, named
and shaped like its weight. Needs only numpy and safetensors.

    python3 examples/saliency_numpy.py MODEL_DIR scores.safetensors [--heuristic colnorm]
    glueq eval --model MODEL_DIR --task rte --method external --scores scores.safetensors --k 256

Heuristics (larger = keep in FP32); add yours to HEURISTICS:
    magnitude  |W_ij|                      (equals glueq's `magnitude`: checks the pipeline)
    colnorm    |W_ij| * ||W_:j||_2         (magnitude weighted by its input column's norm)
    rowcol     |W_ij| * ||W_i:||_2 * ||W_:j||_2
The checkpoint must be model.safetensors (pytorch_model.bin needs torch to read).
"""
import argparse
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

QUANTIZED = re.compile(r"^distilbert\.transformer\.layer\.\d+\.(attention\.(q|k|v|out)_lin|ffn\.lin[12])\.weight$")

HEURISTICS = {
    "magnitude": lambda w: np.abs(w),
    "colnorm": lambda w: np.abs(w) * np.linalg.norm(w, axis=0, keepdims=True),
    "rowcol": lambda w: np.abs(w) * np.linalg.norm(w, axis=1, keepdims=True) * np.linalg.norm(w, axis=0, keepdims=True),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="checkpoint directory (with model.safetensors) or the file itself")
    ap.add_argument("out", help="scores file to write (safetensors)")
    ap.add_argument("--heuristic", choices=sorted(HEURISTICS), default="colnorm")
    args = ap.parse_args()
    path = os.path.join(args.model, "model.safetensors") if os.path.isdir(args.model) else args.model
    if not os.path.isfile(path):
        sys.exit(f"saliency_numpy.py: {path}: no such file (a model.safetensors is needed)")
    weights = load_file(path)
    score = HEURISTICS[args.heuristic]
    scores = {name: score(w.astype(np.float32)).astype(np.float32) for name, w in weights.items()
              if QUANTIZED.match(name)}
    if not scores:
        sys.exit(f"saliency_numpy.py: {path}: no DistilBERT encoder weights found")
    for name, s in scores.items():
        if not np.all(np.isfinite(s)):
            sys.exit(f"saliency_numpy.py: {name}: the heuristic gave non-finite scores")
    tmp = args.out + ".tmp"
    save_file(scores, tmp)
    os.replace(tmp, args.out)
    print(f"{args.out}: {args.heuristic} scores of {len(scores)} matrices", file=sys.stderr)


if __name__ == "__main__":
    main()
