"""safetensors.numpy.save_file / load_file for the tests (see __init__.py)."""
import json
import struct

import numpy as np

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?"}
_NAMES = {np.dtype(v).str: k for k, v in _DTYPES.items()}


def save_file(tensors, filename, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        code = a.dtype.newbyteorder("<").str if a.dtype.byteorder not in "|" else a.dtype.str
        if code not in _NAMES:
            raise ValueError(f"{name}: dtype {a.dtype} is not supported")
        data = a.astype(np.dtype(code), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[code], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_file(filename):
    with open(filename, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base, out = 8 + n, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = buf[base + begin:base + end]
        if info["dtype"] == "BF16":  # numpy has no bfloat16: widen to float32 exactly
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, _DTYPES[info["dtype"]])
        out[name] = a.reshape(info["shape"]).copy()
    return out
