#!/usr/bin/python3
"""Writes an F32 safetensors checkpoint as a torch.save zip (pytorch_model.bin), standard
library only, so that loading the paper's checkpoint format can be timed where PyTorch is
not installed: records are stored and 64-byte aligned as PyTorch writes them, and data.pkl
is a protocol-2 pickle of an OrderedDict of torch._utils._rebuild_tensor_v2 calls on
persistent-id storages (the names are stand-ins registered here; nothing imports torch).

  bench/torchzip.py MODEL.safetensors OUT/pytorch_model.bin
"""
import collections
import io
import json
import pickle
import struct
import sys
import types
import zipfile


def stand_ins():
    """torch.FloatStorage and torch._utils._rebuild_tensor_v2 as picklable names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_class = type("FloatStorage", (), {"__module__": "torch"})
    rebuild = lambda *args: None  # noqa: E731 (only its name is pickled)
    rebuild.__name__ = rebuild.__qualname__ = "_rebuild_tensor_v2"
    rebuild.__module__ = "torch._utils"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = storage_class, utils, rebuild
    sys.modules.update({"torch": torch, "torch._utils": utils})
    return storage_class, rebuild


FLOAT_STORAGE, REBUILD = stand_ins()


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return REBUILD, (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict())


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", FLOAT_STORAGE, obj.key, "cpu", obj.numel) if isinstance(obj, Storage) else None


def read_safetensors(path):
    raw = open(path, "rb").read()
    hlen = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + hlen]), raw[8 + hlen:]
    state, blobs = collections.OrderedDict(), []
    for i, (name, e) in enumerate((k, v) for k, v in header.items() if k != "__metadata__"):
        if e["dtype"] != "F32":
            sys.exit("torchzip.py: %s: tensor '%s' is %s, only F32 is written" % (path, name, e["dtype"]))
        begin, end = e["data_offsets"]
        state[name] = Tensor(Storage(str(i), (end - begin) // 4), e["shape"])
        blobs.append((str(i), data[begin:end]))
    return state, blobs


def main():
    src, dst = sys.argv[1:3]
    state, blobs = read_safetensors(src)
    pkl = io.BytesIO()
    Pickler(pkl, protocol=2).dump(state)
    with open(dst, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        def put(name, payload):
            info = zipfile.ZipInfo("archive/" + name)
            pad = -(f.tell() + 30 + len(info.filename) + 4) % 64  # data starts 64-byte aligned
            info.extra = struct.pack("<HH", 0x4B46, pad) + b"Z" * pad
            z.writestr(info, payload)
        put("data.pkl", pkl.getvalue())
        put("byteorder", b"little")
        for key, blob in blobs:
            put("data/" + key, blob)
        put("version", b"3\n")


if __name__ == "__main__":
    main()
