"""glueq.sweep against `glueq sweep` on the same config: the rows, progress for every point
on the calling thread, and a sweep stopped by Ctrl-C (or by an exception of progress)
after a point, which resume=True completes to the rows of an uninterrupted run."""
import json
import os
import signal
import threading

import pytest

import glueq
from conftest import TINY_A, cli

# fp32; uniform int2 and int3; magnitude and svd at int2 and int3, k 4 and 16: 11 points
CONFIG = {"name": "py-sweep", "models": {"rte": TINY_A}, "tasks": ["rte"], "methods": ["uniform", "magnitude", "svd"],
          "bits": [2, 3], "budgets": {"k": [4, 16]}, "limit": 24, "threads": 1}
N_POINTS = 11


def write_config(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(dict(CONFIG, data=os.environ["GLUEQ_ASSETS"] + "/glue", output=str(tmp_path / "x"))))
    return str(path)


def without_time(rows):
    """The rows without their timings (seconds, and timing by stage), which differ between runs."""
    return [{k: v for k, v in r.items() if k not in ("seconds", "timing")} for r in rows]


def journalled(out):
    with open(os.path.join(out, "journal.jsonl"), encoding="utf-8") as f:
        return sum(line.startswith("{") for line in f)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The rows of `glueq sweep` on the config."""
    tmp = tmp_path_factory.mktemp("ref")
    rc, _, err = cli("sweep", write_config(tmp), "--out", str(tmp / "cli"), "--quiet")
    assert rc == 0, err
    with open(tmp / "cli" / "results.json", encoding="utf-8") as f:
        return json.load(f)["rows"]


def test_progress_sees_every_point_on_the_calling_thread(tmp_path, reference):
    seen = []
    config = write_config(tmp_path)
    rows = glueq.sweep(config, tmp_path / "out", progress=lambda *a: seen.append((*a, threading.get_ident())))
    assert len(reference) == N_POINTS and without_time(rows) == without_time(reference)
    assert [(done, total) for done, total, _, _ in seen] == [(i, N_POINTS) for i in range(1, N_POINTS + 1)]
    assert sorted(row["point_id"] for _, _, row, _ in seen) == sorted(r["point_id"] for r in reference)
    assert {thread for *_, thread in seen} == {threading.get_ident()}
    assert glueq.sweep(config, tmp_path / "out", progress=lambda *a: seen.append(a)) == rows
    assert len(seen) == N_POINTS  # resumed with nothing left to run


def interrupt_after(n, seen):
    def progress(done, total, row):
        seen.append(row["point_id"])
        if done == n:
            os.kill(os.getpid(), signal.SIGINT)
    return progress


def test_ctrl_c_stops_after_the_point_and_resume_completes_it(tmp_path, reference):
    config, out, seen = write_config(tmp_path), str(tmp_path / "out"), []
    with pytest.raises(KeyboardInterrupt):
        glueq.sweep(config, out, progress=interrupt_after(2, seen))
    stopped = journalled(out)
    # stopped midway: after the second point, or after the one in flight when Ctrl-C came
    assert 2 <= stopped < N_POINTS and not os.path.exists(os.path.join(out, "results.json"))
    rest = []
    rows = glueq.sweep(config, out, resume=True,
                       progress=lambda done, total, row: rest.append((total, row["point_id"])))
    assert without_time(rows) == without_time(reference)
    assert [t for t, _ in rest] == [N_POINTS - stopped] * (N_POINTS - stopped)
    assert len(seen) == 2 and not set(seen) & {p for _, p in rest}  # progress stops with the first Ctrl-C


def test_an_exception_of_progress_stops_the_sweep_and_is_raised(tmp_path, reference):
    config, out = write_config(tmp_path), str(tmp_path / "out")

    def fail(done, total, row):
        raise ValueError(f"stop at {done}")

    with pytest.raises(ValueError, match="stop at 1"):
        glueq.sweep(config, out, progress=fail)
    assert 1 <= journalled(out) < N_POINTS
    assert without_time(glueq.sweep(config, out, resume=True)) == without_time(reference)


def test_errors_raise_the_commands_message(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(dict(CONFIG, data=str(tmp_path / "nodata"), output=str(tmp_path / "x"))))
    with pytest.raises(glueq.Error) as e:
        glueq.sweep(config, tmp_path / "out", progress=lambda *a: None)
    rc, _, err = cli("sweep", str(config), "--out", str(tmp_path / "out"))
    assert rc == 1 and err.strip() == "glueq: " + str(e.value)
