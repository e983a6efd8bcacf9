#!/usr/bin/env python3
"""The cost of evaluating from Python over the glueq command's own evaluation of the same
point (RTE dev, every row): median wall times of `glueq eval` (the whole process: load,
tokenize, quantize, forward), of glueq.Model.evaluate on its first call (tokenizes the
split, as the command does; the model is loaded beforehand) and on later calls (the split
stays tokenized), and the package's own share of a call: evaluate's wall time less that of
the C call inside it (flags, scores and result conversion, JSON).

    GLUEQ_LIBRARY=build/release/libglueq.so PYTHONPATH=python \\
      python3 bench/python_overhead.py MODEL [--glueq build/release/glueq] [--reps 5] [-- FLAGS...]
"""
import argparse
import json
import statistics
import subprocess
import time

import glueq
from glueq import _lib


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--glueq", default="build/release/glueq")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("flags", nargs="*", default=["--method", "magnitude", "--k", "256"])
    a = ap.parse_args()
    flags = ["--task", "rte"] + a.flags
    cli = [timed(lambda: subprocess.run([a.glueq, "eval", "--model", a.model, "--json", "--quiet", *flags],
                                        check=True, capture_output=True))[0] for _ in range(a.reps)]
    options = {f[2:].replace("-", "_"): v for f, v in zip(flags[2::2], flags[3::2])}
    first, later, inner = [], [], []
    real = _lib.lib.glueq_evaluate
    for _ in range(a.reps):
        m = glueq.load(a.model)
        first.append(timed(lambda: m.evaluate("rte", **options))[0])
        calls = []

        def timed_c(*args):
            t, status = timed(lambda: real(*args))
            calls.append(t)
            return status

        _lib.lib.glueq_evaluate = timed_c
        try:
            later.append(timed(lambda: m.evaluate("rte", **options))[0])
        finally:
            _lib.lib.glueq_evaluate = real
        inner.append(later[-1] - calls[-1])
    med = statistics.median
    print(json.dumps({"flags": flags, "reps": a.reps, "glueq_eval_process_s": med(cli),
                      "evaluate_first_call_s": med(first), "evaluate_later_call_s": med(later),
                      "package_share_s": med(inner),
                      "first_call_over_process": med(first) / med(cli) - 1,
                      "package_share_of_call": med(inner) / med(later)}, indent=1))


if __name__ == "__main__":
    main()
