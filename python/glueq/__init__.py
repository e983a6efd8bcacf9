"""glueq in process: load a DistilBERT GLUE classifier, evaluate it quantized with any of
glueq's saliency methods or with scores computed in numpy, and compare the results, with
the engine and the options of the glueq command (libglueq, api/glueq.h).

    import glueq
    m = glueq.load("textattack/distilbert-base-uncased-RTE")    # a directory or a cached Hub id
    scores = {name: abs(w) for name, w in m.weights().items()}  # any heuristic, in numpy
    r = m.evaluate("rte", scores=scores, bits=4, k=256)
    print(r.accuracy, r.ci, r.effective_bits, r.point_id)

Every keyword of evaluate and quantize is a flag of `glueq eval` (k=256 is --k 256,
calib_n=64 is --calib-n 64, act_order=True is --act-order, global_=True is --global);
errors raise glueq.Error with the command's one-line message. C work runs without the GIL.
"""
import ctypes
import json
import os
import queue
import signal
import threading

import numpy as np

from . import _lib
from ._lib import Error

__all__ = ["Error", "Model", "Result", "Comparison", "load", "compare", "sweep", "set_log_level", "__version__"]

__version__ = "0.1.0"

_lib.lib.glueq_set_log_level(1)  # warnings only: progress goes to a callback


def set_log_level(level):
    """glueq's log lines on stderr: 0 none, 1 warnings (the package's default), 2 progress notes."""
    _lib.lib.glueq_set_log_level(int(level))


def library_version():
    """The release and the commit libglueq was built from."""
    return _lib.lib.glueq_version().decode()


def _flags(options):
    """Keyword options as glueq eval's flags: None and False leave a flag out, True gives it
    alone, a dict (method_options) gives one --method-opt KEY=VALUE per entry."""
    args = []
    for key, value in options.items():
        flag = "--" + key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        if key == "method_options":
            for k, v in value.items():
                args += ["--method-opt", f"{k}={v}"]
        elif value is True:
            args.append(flag)
        else:
            args += [flag, str(value)]
    return args


def _scores(scores):
    """The scores dict as C tensors (and the arrays that back them, to be kept alive):
    float32 only; a non-contiguous array is copied."""
    if not isinstance(scores, dict):
        raise Error(f"scores: a dict of name -> float32 array is needed, not {type(scores).__name__}")
    arrays, tensors = [], (_lib.Tensor * max(len(scores), 1))()
    for i, (name, value) in enumerate(scores.items()):
        a = np.asarray(value)
        if a.dtype != np.float32:
            raise Error(f"scores: tensor '{name}' is {a.dtype}, not float32 (convert it with .astype(np.float32))")
        if a.ndim != 2:
            raise Error(f"scores: tensor '{name}' has {a.ndim} dimensions, the weight has 2")
        a = np.ascontiguousarray(a)
        arrays.append(a)
        tensors[i] = _lib.Tensor(str(name).encode(), a.ctypes.data, a.shape[0], a.shape[1])
    return tensors, len(scores), arrays


def _progress(fn):
    if fn is None:
        return _lib.PROGRESS()
    return _lib.PROGRESS(lambda ctx, done, total: fn(done, total))


class _View:
    """A read-only array interface over memory the model owns; keeps the model alive."""

    def __init__(self, owner, address, shape):
        self._owner = owner
        self.__array_interface__ = {"data": (address, True), "shape": shape, "typestr": "<f4", "version": 3}


class Result:
    """One evaluation: every key of `glueq eval --json` as an attribute (task, split,
    accuracy, correct, total, accuracy_ci_low/high, f1, mcc, pearson, spearman and their
    intervals where the task has them, main_metric, label_order, method, bits, k or p,
    protected, effective_bits, ...), point_id and settings (the id `glueq sweep` gives these
    settings), and per example `predictions` and `labels` (the task's label ids; -1 where
    the split has none; for stsb, a regression, 0: its predicted scores are logits[:, 0])
    and `logits` (n x n_labels) as numpy arrays. Keys that later versions of glueq report
    appear as attributes too."""

    def __init__(self, values, predictions, labels, logits):
        self._values = values
        self.predictions, self.labels, self.logits = predictions, labels, logits

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"glueq.Result has no '{name}' (it has {sorted(self._values)})") from None

    @property
    def ci(self):
        """The 95% interval of the accuracy."""
        return self._values.get("accuracy_ci_low"), self._values.get("accuracy_ci_high")

    @property
    def metric(self):
        """The task's headline metric: F1 where the task reports it, else its main metric
        (accuracy; Matthews corr. for cola, Pearson for stsb)."""
        v = self._values
        return v["f1"] if "f1" in v else v.get(v.get("main_metric", "accuracy"))

    def to_dict(self):
        """The JSON object `glueq eval --json` prints, with point_id and settings."""
        return dict(self._values)

    def __repr__(self):
        v = self._values
        return (f"glueq.Result(task={v.get('task')!r}, method={v.get('method')!r}, accuracy={v.get('accuracy')}, "
                f"total={v.get('total')}, point_id={v.get('point_id')!r})")


def _result(handle):
    lib = _lib.lib
    try:
        n, nl = lib.glueq_result_n(handle), lib.glueq_result_n_labels(handle)
        values = json.loads(lib.glueq_result_json(handle).decode())
        pred = np.ctypeslib.as_array(lib.glueq_result_predictions(handle), (max(n, 1),))[:n].copy()
        labels = np.ctypeslib.as_array(lib.glueq_result_labels(handle), (max(n, 1),))[:n].copy()
        logits = np.ctypeslib.as_array(lib.glueq_result_logits(handle), (max(n * nl, 1),))[:n * nl].copy()
        return Result(values, pred, labels, logits.reshape(n, nl))
    finally:
        lib.glueq_result_free(handle)


class Model:
    """A loaded model (glueq.load). Any thread may evaluate any model; the C work of
    evaluations runs one at a time in a process (without the GIL, each on its threads'
    cores), since OpenBLAS's thread count is process-wide and results depend on it."""

    def __init__(self, model):
        handle, err = ctypes.c_void_p(), _lib.new_error()
        _lib.check(_lib.lib.glueq_model_load(os.fsencode(model), ctypes.byref(handle), err), err)
        self._handle = handle
        self._info = json.loads(_lib.lib.glueq_model_info(handle).decode())

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            _lib.lib.glueq_model_free(handle)
            self._handle = None

    @property
    def config(self):
        """The architecture: dim, n_layers, n_heads, hidden_dim, vocab_size,
        max_position_embeddings, labels."""
        return dict(self._info["config"])

    def info(self):
        """What `glueq info` prints: model, weights, format, sha256, config, parameters,
        tensors, quantizable, matrices, dtypes."""
        return json.loads(json.dumps(self._info))

    def weights(self):
        """The quantized matrices (the encoder's Linear weights) by checkpoint name, as
        read-only float32 views of the model's memory (no copy): the keys scores need.
        They hold the FP32 weights except while an evaluate or quantize of this model runs."""
        lib, out = _lib.lib, {}
        for i in range(lib.glueq_model_n_matrices(self._handle)):
            name, rows, cols = ctypes.c_char_p(), ctypes.c_int64(), ctypes.c_int64()
            address = lib.glueq_model_matrix(self._handle, i, ctypes.byref(name), ctypes.byref(rows),
                                             ctypes.byref(cols))
            out[name.value.decode()] = np.asarray(_View(self, address, (rows.value, cols.value)))
        return out

    def evaluate(self, task, method=None, bits=None, k=None, algorithm=None, scores=None, threads=None, limit=None,
                 progress=None, **options):
        """Scores the model on a GLUE split as `glueq eval` does and returns a Result.

        method: a saliency method (uniform, magnitude, random, svd, awq, spqr, external,
        rosaq); None evaluates FP32, unless scores are given (then external). bits, k (or
        p=fraction), algorithm (rtn, gptq, awq-scale), threads, limit (first rows only) and
        every other flag of glueq eval as a keyword (split, data, vocab, max_len, scheme,
        granularity, clip, global_, method_options={...}, calib_n, cache_dir, device, ...).
        scores: {weight name: float32 array of its shape} for the external method, in
        memory; checked as a scores file is. progress: called as progress(done, total)
        after each batch."""
        if scores is not None and method is None:
            method = "external"
        args = _flags(dict(task=task, method=method, bits=bits, k=k, algorithm=algorithm, threads=threads,
                           limit=limit, **options))
        tensors, n, keep = _scores(scores) if scores is not None else (None, 0, None)
        handle, err = ctypes.c_void_p(), _lib.new_error()
        status = _lib.lib.glueq_evaluate(self._handle, _lib.argv(args), tensors, n, _progress(progress), None,
                                         ctypes.byref(handle), err)
        del keep
        _lib.check(status, err)
        return _result(handle)

    def quantize(self, task, out, method=None, bits=None, k=None, algorithm=None, scores=None, threads=None,
                 **options):
        """Writes the model quantized as evaluate(task, ...) would run it to the directory
        out, as `glueq quantize` does (config.json, vocab.txt, model.safetensors,
        quantization.json, protected.safetensors); returns out. The task picks the
        calibration rows."""
        if scores is not None and method is None:
            method = "external"
        args = _flags(dict(task=task, method=method, bits=bits, k=k, algorithm=algorithm, threads=threads,
                           **options))
        tensors, n, keep = _scores(scores) if scores is not None else (None, 0, None)
        err = _lib.new_error()
        status = _lib.lib.glueq_quantize(self._handle, _lib.argv(args), tensors, n, os.fsencode(out), err)
        del keep
        _lib.check(status, err)
        return out


def load(model):
    """Loads a DistilBERT sequence classifier: a checkpoint directory or a Hugging Face Hub
    id ORG/NAME[@REV] found in the local Hugging Face cache (never downloaded)."""
    return Model(model)


class Comparison:
    """`glueq compare`'s paired statistics of B against A on the same examples: task,
    point_id_a and point_id_b, description_a and description_b (method, bits and budget, as
    the command's A and B columns; None for two Results), n, correct_a, correct_b,
    accuracy_a, accuracy_b, only_a, only_b (examples only that side gets right), diff
    (accuracy B - accuracy A), ci (its paired-bootstrap 95% interval) and p (exact McNemar);
    for result paths also metrics, the command's lines: a dict per metric of the task and dev
    file (metric, file, main, a, b, diff, ci_low, ci_high, p)."""

    def __init__(self, values):
        self._values = dict(values)
        for key, value in values.items():
            setattr(self, key, value)
        self.ci = (values["ci_low"], values["ci_high"])

    def to_dict(self):
        """The statistics as a dict (ci as ci_low and ci_high)."""
        return dict(self._values)

    def __repr__(self):
        return (f"glueq.Comparison(task={self.task!r}, a={self.point_id_a!r}, b={self.point_id_b!r}, n={self.n}, "
                f"correct_a={self.correct_a}, correct_b={self.correct_b}, diff={self.diff:+.4f}, "
                f"ci=({self.ci[0]:+.4f}, {self.ci[1]:+.4f}), p={self.p:.4g})")


def _compare_results(a, b):
    if a.task != b.task or a.split != b.split or not np.array_equal(a.labels, b.labels):
        raise Error(f"compare: {a.point_id} ({a.task} {a.split}, {len(a.labels)} examples) and {b.point_id} "
                    f"({b.task} {b.split}, {len(b.labels)} examples) are not scored on the same examples")
    if len(a.labels) and a.labels.min() < 0:
        raise Error(f"compare: {a.task} {a.split} has no labels")
    if a.logits.shape[1] == 1:
        raise Error(f"compare: {a.task} is a regression: compare sweeps' outputs (glueq.compare(PATH, PATH))")
    arrays = [np.ascontiguousarray(x, dtype=np.int32) for x in (a.labels, a.predictions, b.predictions)]
    ptrs = [x.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)) for x in arrays]
    s = _lib.CompareStats()
    _lib.lib.glueq_compare_paired(*ptrs, len(arrays[0]), ctypes.byref(s))
    n = max(s.n, 1)
    return Comparison(dict(task=a.task, point_id_a=a.point_id, point_id_b=b.point_id, description_a=None,
                           description_b=None, n=s.n, correct_a=s.correct_a, correct_b=s.correct_b, only_a=s.only_a,
                           only_b=s.only_b, accuracy_a=s.correct_a / n, accuracy_b=s.correct_b / n, diff=s.diff,
                           ci_low=s.lo, ci_high=s.hi, p=s.p))


def _compare_paths(a, b, task):
    handle, err = ctypes.c_void_p(), _lib.new_error()
    task = None if task is None else str(task).encode()
    _lib.check(_lib.lib.glueq_compare(os.fsencode(a), os.fsencode(b), task, ctypes.byref(handle), err), err)
    try:
        return [Comparison(v) for v in json.loads(_lib.lib.glueq_comparison_json(handle).decode())]
    finally:
        _lib.lib.glueq_comparison_free(handle)


def compare(a, b, task=None):
    """Paired comparison of B against A, as `glueq compare` does.

    Two Results of the same task and split give one Comparison. Two result paths give a
    list of Comparisons, one per pair in the command's order: each path is RESULTS or
    RESULTS#POINT_ID, RESULTS a sweep's output directory or its results.json (with
    predictions.jsonl beside it); with a point id on both sides those two points, with
    none every point id present in both (of task, when given)."""
    if isinstance(a, Result) and isinstance(b, Result):
        return _compare_results(a, b)
    if isinstance(a, (str, bytes, os.PathLike)) and isinstance(b, (str, bytes, os.PathLike)):
        return _compare_paths(a, b, task)
    raise Error(f"compare: two Results or two result paths are needed, not {type(a).__name__} and "
                f"{type(b).__name__}")


class Rows(list):
    """A sweep's result rows (dicts with the columns of results.csv); .frame is them as a
    pandas DataFrame (pandas must be installed)."""

    @property
    def frame(self):
        import pandas
        return pandas.DataFrame(list(self))


def _journal_rows(out):
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith("journal") and name.endswith(".jsonl"):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                # the header line is not a row, nor a last line cut short by a kill
                rows += [json.loads(line) for line in f if line.startswith("{") and line.endswith("\n")]
    return rows


def _follow(events, progress, stop):
    """Hands the sweep's points to progress on this thread until the sweep ends. The first
    KeyboardInterrupt, or an exception of progress, asks the sweep to stop after the point
    in flight and is returned once it has; a second KeyboardInterrupt is raised at once."""
    raised = None
    while True:
        try:
            try:
                item = events.get(timeout=0.25)  # wakes for a Ctrl-C delivered to another thread
            except queue.Empty:
                continue
            if item is None:
                return raised
            if progress is not None and raised is None:
                done, total, row = item
                progress(done, total, json.loads(row))
        except BaseException as e:
            if raised is not None and isinstance(e, KeyboardInterrupt):
                raise
            stop.value = signal.SIGINT
            raised = raised or e


def sweep(config, out, resume=True, threads=None, shard=None, cache_dir=None, progress=None):
    """Runs a sweep config into the directory out as `glueq sweep` does (continuing its
    journal when resume) and returns the rows: those of results.json, or of the journal
    for a shard ("i/N").

    progress: called as progress(done, total, row) on the calling thread after each point,
    with the points done so far in this run, the points it has to run and the point's row
    (a dict, as the journal holds it); nothing is printed. KeyboardInterrupt (Ctrl-C), or
    an exception of progress, stops the sweep after the point in flight, as Ctrl-C stops
    `glueq sweep`, and is raised then; resume=True continues where it stopped."""
    args = [os.fsdecode(config)] + _flags(dict(out=os.fsdecode(out), resume=resume, threads=threads, shard=shard,
                                                cache_dir=cache_dir))
    stop, events, err, status = ctypes.c_int(0), queue.SimpleQueue(), _lib.new_error(), []
    report = _lib.SWEEP_PROGRESS(lambda ctx, done, total, row: events.put((done, total, row)))

    def run():  # on a thread of its own, so that this one takes Ctrl-C and runs progress
        try:
            status.append(_lib.lib.glueq_sweep(_lib.argv(args), report, None, ctypes.byref(stop), err))
        finally:
            events.put(None)

    worker = threading.Thread(target=run, name="glueq.sweep", daemon=True)
    worker.start()
    raised = _follow(events, progress, stop)
    worker.join()
    if raised is not None:
        raise raised
    _lib.check(status[0], err)
    results = os.path.join(out, "results.json")
    if shard is None and os.path.exists(results):
        with open(results, encoding="utf-8") as f:
            return Rows(json.load(f)["rows"])
    return Rows(_journal_rows(out))
