"""glueq in a long-lived process: memory that stays flat over many evaluations, and
evaluations of two models in two threads at once that give what they give one at a time."""
import threading

import numpy as np

import glueq
from conftest import MLM_RTE, TINY_A

# Resident memory may grow by this much over 900 evaluations after the first 100 (100 kB
# measured: the allocator's slack). Leaking each call's result JSON grew it by 1.6 MB, its
# quantization session (the FP32 copy of the matrices) by 450 MB.
RSS_SLACK_BYTES = 1 << 20


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_a_thousand_evaluations_keep_memory_flat():
    m = glueq.load(TINY_A)
    scores = {name: np.abs(w) for name, w in m.weights().items()}

    def one(i):
        if i % 2:
            return m.evaluate("rte", scores=scores, k=4, limit=4, threads=1)
        return m.evaluate("rte", method="magnitude", k=4, limit=4, threads=1)

    first = [one(i) for i in range(100)]
    before = rss_bytes()
    for i in range(100, 1000):
        r = one(i)
        assert r.logits.tolist() == first[i % 2].logits.tolist()
    grown = rss_bytes() - before
    assert grown < RSS_SLACK_BYTES, f"resident memory grew by {grown} bytes over 900 evaluations"


def run(model, task, options):
    return glueq.load(model).evaluate(task, threads=2, limit=64, **options)


def test_two_models_in_two_threads_give_the_results_of_one_at_a_time():
    jobs = [(MLM_RTE, "rte", {"method": "svd", "k": 64, "bits": 3}),
            (TINY_A, "rte", {"method": "magnitude", "k": 16, "algorithm": "gptq", "calib_n": 16})]
    alone = [run(*job) for job in jobs]
    together = [None] * len(jobs)
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, run(*jobs[i]))) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        assert b is not None
        assert a.logits.tolist() == b.logits.tolist() and a.point_id == b.point_id
