#!/usr/bin/env python3
"""Builds the fuzzers' seed corpora from the shared fixtures and assets (stdlib only).

    fuzz/make_corpus.py SHARED_DIR OUT_DIR     # writes OUT_DIR/<target>/<seed>

Seeds are small, so that each execution is fast, but keep the structure of the real
files: the fixtures' checkpoints cut down to a few tensors of at most 3 elements per
dimension (their names, dtypes and pickle layout kept: protocol 2, OrderedDict with
_metadata, _rebuild_tensor_v2, persistent ids), the GLUE dev files' first rows, the
tokenizer references' texts, the repository's sweep configs, a journal rebuilt from
the first results/*/results.json, and score-cache entries as quant/session.c writes
them. Nothing here is committed; the hand-made seeds in fuzz/seeds/ are added as they are.
"""
import collections
import glob
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_TENSORS = 4
DTYPES = {  # safetensors name: (torch storage class, struct format, size)
    "F32": ("FloatStorage", "f", 4),
    "F16": ("HalfStorage", "e", 2),
    "BF16": ("BFloat16Storage", None, 2),
    "F64": ("DoubleStorage", "d", 8),
    "I64": ("LongStorage", "q", 8),
    "I32": ("IntStorage", "i", 4),
}
STORAGE_DTYPE = {v[0]: k for k, v in DTYPES.items()}


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def shrink(shape):
    return [min(int(s), 3) for s in shape]


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


# ---- safetensors -------------------------------------------------------------------


def st_read(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    return json.loads(buf[8 : 8 + n]), buf[8 + n :]


def st_write(entries, meta=None):
    """entries: [(name, dtype, shape, raw bytes)] -> safetensors bytes."""
    header, off, data = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dt, shape, raw in entries:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def convert_f32(raw, dt):
    vals = struct.unpack("<%df" % (len(raw) // 4), raw)
    if dt == "BF16":
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in vals)
    fmt = DTYPES[dt][1]
    if dt in ("I64", "I32"):
        vals = [int(v * 100) for v in vals]
    return struct.pack("<%d%s" % (len(vals), fmt), *vals)


def safetensors_seeds(shared, out):
    for model in ("tiny-a", "tiny-b"):
        for fname in ("model.safetensors", "expected.safetensors", "quant_refs.safetensors"):
            path = os.path.join(shared, "fixtures", model, fname)
            if not os.path.exists(path):
                continue
            header, data = st_read(path)
            meta = header.pop("__metadata__", None)
            entries = []
            for name, e in list(header.items())[:MAX_TENSORS]:
                shape = shrink(e["shape"])
                size = DTYPES[e["dtype"]][2]
                b = e["data_offsets"][0]
                entries.append((name, e["dtype"], shape, data[b : b + numel(shape) * size]))
            write(out, "fuzz_safetensors", "%s-%s" % (model, fname), st_write(entries, meta))
            # the same tensors in every other dtype the reader converts
            if fname == "model.safetensors":
                for dt in DTYPES:
                    if dt == "F32":
                        continue
                    conv = [(n, dt, s, convert_f32(r, dt)) for n, d, s, r in entries if d == "F32"]
                    write(out, "fuzz_safetensors", "%s-%s" % (model, dt), st_write(conv))


# ---- torch: read the fixtures' pickles with stubs, write small ones with fake globals --


class Storage:
    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _stub_rebuild(storage, offset, size, stride, *rest):
    return Tensor(storage, offset, size, stride)


class FixtureUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
            return _stub_rebuild if name == "_rebuild_tensor_v2" else (lambda t, *a: t)
        if module == "torch" and name in STORAGE_DTYPE:
            return STORAGE_DTYPE[name]
        raise pickle.UnpicklingError("unexpected global %s.%s" % (module, name))

    def persistent_load(self, pid):
        return Storage(pid[1], pid[2], pid[4])


# Fake torch modules, so that pickle writes the globals torch writes.
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch._utils = torch_utils
sys.modules["torch"], sys.modules["torch._utils"] = torch, torch_utils


def _make_global(module, modname, name):
    def f(*a):
        raise RuntimeError("fake")

    f.__module__, f.__qualname__, f.__name__ = modname, name, name
    setattr(module, name, f)
    return f


REBUILD = _make_global(torch_utils, "torch._utils", "_rebuild_tensor_v2")
STORAGE_CLS = {dt: _make_global(torch, "torch", cls) for dt, (cls, _, _) in DTYPES.items()}


class SmallTensor:
    """A tensor of the seed: pickles as torch does, storage by persistent id."""

    def __init__(self, storage, size):
        self.storage, self.size = storage, tuple(size)

    def __reduce__(self):
        stride = tuple(numel(self.size[i + 1 :]) for i in range(len(self.size)))
        return (REBUILD, (self.storage, 0, self.size, stride, False, collections.OrderedDict()))


class SeedPickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", STORAGE_CLS[obj.dtype], obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def dumps(obj, legacy=False):
    f = io.BytesIO()
    SeedPickler(f, legacy).dump(obj)
    return f.getvalue()


def small_state_dict(sd):
    """The first tensors of sd, shrunk, each with its own new storage (plus one tied pair)."""
    out, storages = collections.OrderedDict(), []
    out._metadata = collections.OrderedDict([("", {"version": 1})])
    for i, (name, t) in enumerate(list(sd.items())[:MAX_TENSORS]):
        size = shrink(t.size)
        st = Storage(t.storage.dtype, str(i), numel(size))
        storages.append(st)
        out[name] = SmallTensor(st, size)
    if storages:  # tied weights: a second name on the first storage
        first = next(iter(out.values()))
        out["tied." + next(iter(out))] = SmallTensor(first.storage, first.size)
    return out, storages


def storage_bytes(st):
    fmt = DTYPES[st.dtype][1]
    if fmt is None:  # BF16
        return bytes([0x80, 0x3F]) * st.numel
    return struct.pack("<%d%s" % (st.numel, fmt), *([1] * st.numel))


def torch_zip_seeds(shared, out):
    for model in ("tiny-a", "tiny-b"):
        path = os.path.join(shared, "fixtures", model, "pytorch_model.bin")
        if not os.path.exists(path):
            continue
        z = zipfile.ZipFile(path)
        pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        sd = FixtureUnpickler(io.BytesIO(z.read(pkl))).load()
        small, storages = small_state_dict(sd)
        f = io.BytesIO()
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as w:
            w.writestr("archive/data.pkl", dumps(small))
            w.writestr("archive/byteorder", "little")
            for st in storages:
                w.writestr("archive/data/" + st.key, storage_bytes(st))
            w.writestr("archive/version", "3\n")
        write(out, "fuzz_torch_zip", model + "-pytorch_model.bin", f.getvalue())


def torch_legacy_seeds(shared, out):
    path = os.path.join(shared, "fixtures", "tiny-a", "pytorch_model_legacy.bin")
    if not os.path.exists(path):
        return
    f = io.BytesIO(open(path, "rb").read())
    u = lambda: FixtureUnpickler(f).load()  # noqa: E731
    magic, proto, sys_info, sd = u(), u(), u(), u()
    small, storages = small_state_dict(sd)
    data = dumps(magic) + dumps(proto) + dumps(sys_info) + dumps(small, legacy=True)
    data += dumps([st.key for st in storages])
    for st in storages:
        data += struct.pack("<q", st.numel) + storage_bytes(st)
    write(out, "fuzz_torch_legacy", "tiny-a-pytorch_model_legacy.bin", data)


# ---- text formats --------------------------------------------------------------------


def config_seeds(shared, out):
    for d in ("fixtures/tiny-a", "fixtures/tiny-b", "assets/models/scratch-rte", "assets/models/mlm-mrpc"):
        p = os.path.join(shared, d, "config.json")
        if os.path.exists(p):
            write(out, "fuzz_config", d.replace("/", "-"), open(p, "rb").read())


def sweep_config_seeds(out):
    cdir = os.path.join(ROOT, "configs")
    for name in sorted(os.listdir(cdir)):
        write(out, "fuzz_sweep_config", name, open(os.path.join(cdir, name), "rb").read())


# fuzz_glue's first byte: the task's index in glue.h's table, plus 9 times the name the
# file is read as (0 any, 1 dev_matched.tsv, 2 dev_mismatched.tsv: MNLI's split check).
GLUE_TASKS = ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI")
GLUE_NAMES = {"dev_matched.tsv": 1, "dev_mismatched.tsv": 2}


def glue_seeds(shared, out):
    fixtures = os.path.join(ROOT, "tests", "fixtures", "glue")
    for i, task in enumerate(GLUE_TASKS):
        for root, prefix in ((os.path.join(shared, "assets", "glue"), ""), (fixtures, "fixture-")):
            d = os.path.join(root, task)
            for split in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                lines = open(os.path.join(d, split), "rb").read().split(b"\n")[:6]
                first = bytes([i + len(GLUE_TASKS) * GLUE_NAMES.get(split, 0)])
                write(out, "fuzz_glue", prefix + task + "-" + split, first + b"\n".join(lines) + b"\n")


def tokenizer_seeds(shared, out):
    p = os.path.join(shared, "fixtures", "tokrefs", "tricky.jsonl")
    if not os.path.exists(p):
        return
    for i, line in enumerate(open(p, encoding="utf-8")):
        rec = json.loads(line)
        texts = [rec[k] for k in ("text", "a", "b", "text_a", "text_b") if isinstance(rec.get(k), str)]
        if texts:
            write(out, "fuzz_tokenizer", "tricky-%03d" % i, b"\x00" + "\x00".join(texts[:2]).encode())


def tokenizer_bpe_seeds(out):
    """The byte-level BPE references' texts (tests/fixtures/bpe-tiny), as fuzz_tokenizer_bpe
    reads them: a byte for policy and max_len, then a, NUL, b."""
    p = os.path.join(ROOT, "tests", "fixtures", "bpe-tiny", "refs", "prefix-false", "tricky.jsonl")
    for i, line in enumerate(open(p, encoding="utf-8")):
        rec = json.loads(line)
        texts = [rec[k] for k in ("text", "a", "b") if isinstance(rec.get(k), str)]
        write(out, "fuzz_tokenizer_bpe", "tricky-%03d" % i, bytes([2 * (i % 2)]) + "\x00".join(texts).encode())


def journal_seeds(out):
    """A journal rebuilt from the first results/*/results.json committed with the source."""
    found = sorted(glob.glob(os.path.join(ROOT, "results", "*", "results.json")))
    if not found:
        return
    res = json.load(open(found[0]))
    rows = res["rows"][:3]
    header = json.dumps({"config": res["config"], "runs": []}, separators=(",", ":"))
    text = "glueq-journal 1 %s %s\n" % ("0" * 64, header)
    text += "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
    write(out, "fuzz_journal", "results", text.encode())
    write(out, "fuzz_journal", "results-truncated", text.encode()[:-40])


def cache_seeds(out):
    """As quant/session.c's cache_save writes an entry (host byte order, here little)."""
    key = b"glueq fuzz cache key"  # fuzz_cache.c's FUZZ_CACHE_KEY, for FUZZ_CACHE_MATS = 3
    for sizes in ((2, 3, 1), (0, 4, 2)):
        b = b"GQQSTATE" + struct.pack("<II", 1, len(key)) + key + struct.pack("<I", len(sizes))
        b += b"".join(struct.pack("<Q", n) for n in sizes)
        b += b"".join(struct.pack("<%dd" % n, *[0.5 * i for i in range(n)]) for n in sizes)
        write(out, "fuzz_cache", "entry-%d%d%d" % sizes, b + hashlib.sha256(b).digest())


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_corpus.py SHARED_DIR OUT_DIR")
    shared, out = sys.argv[1], sys.argv[2]
    if not os.path.isdir(os.path.join(shared, "fixtures")):
        sys.exit("make_corpus.py: %s has no fixtures/ (set GLUEQ_SHARED)" % shared)
    safetensors_seeds(shared, out)
    torch_zip_seeds(shared, out)
    torch_legacy_seeds(shared, out)
    config_seeds(shared, out)
    sweep_config_seeds(out)
    glue_seeds(shared, out)
    tokenizer_seeds(shared, out)
    tokenizer_bpe_seeds(out)
    journal_seeds(out)
    cache_seeds(out)
    seeds_dir = os.path.join(ROOT, "fuzz", "seeds")
    for target in sorted(os.listdir(seeds_dir)) if os.path.isdir(seeds_dir) else []:
        for name in sorted(os.listdir(os.path.join(seeds_dir, target))):
            write(out, target, "hand-" + name, open(os.path.join(seeds_dir, target, name), "rb").read())


if __name__ == "__main__":
    main()
