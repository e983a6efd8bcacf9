"""The ctypes declarations of libglueq's C API (api/glueq.h) and where the library is found:
$GLUEQ_LIBRARY, else the library `cmake --install` recorded beside this package
(_library.py), else the system's search path (libglueq.so.1)."""
import ctypes
import os

API_VERSION = 1


class Error(Exception):
    """A failure of glueq, with the one-line message the glueq command prints for it.
    `status` is glueq's status code (glueq.h: 1 I/O, 2 format, 3 shape, 5 argument, ...)."""

    def __init__(self, message, status=5):
        super().__init__(message)
        self.status = status


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class Tensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p), ("rows", ctypes.c_int64),
                ("cols", ctypes.c_int64)]


class CompareStats(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("correct_a", ctypes.c_int), ("correct_b", ctypes.c_int),
                ("only_a", ctypes.c_int), ("only_b", ctypes.c_int), ("diff", ctypes.c_double),
                ("lo", ctypes.c_double), ("hi", ctypes.c_double), ("p", ctypes.c_double)]


PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)
SWEEP_PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)

_P = ctypes.c_void_p
_SIGNATURES = {
    "glueq_api_version": (ctypes.c_int, []),
    "glueq_version": (ctypes.c_char_p, []),
    "glueq_set_log_level": (None, [ctypes.c_int]),
    "glueq_model_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_P), ctypes.POINTER(_Error)]),
    "glueq_model_free": (None, [_P]),
    "glueq_model_info": (ctypes.c_char_p, [_P]),
    "glueq_model_n_matrices": (ctypes.c_int, [_P]),
    "glueq_model_matrix": (_P, [_P, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int64),
                                ctypes.POINTER(ctypes.c_int64)]),
    "glueq_evaluate": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(Tensor), ctypes.c_int,
                                      PROGRESS, _P, ctypes.POINTER(_P), ctypes.POINTER(_Error)]),
    "glueq_result_json": (ctypes.c_char_p, [_P]),
    "glueq_result_n": (ctypes.c_int, [_P]),
    "glueq_result_n_labels": (ctypes.c_int, [_P]),
    "glueq_result_predictions": (ctypes.POINTER(ctypes.c_int32), [_P]),
    "glueq_result_labels": (ctypes.POINTER(ctypes.c_int32), [_P]),
    "glueq_result_logits": (ctypes.POINTER(ctypes.c_float), [_P]),
    "glueq_result_free": (None, [_P]),
    "glueq_quantize": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(Tensor), ctypes.c_int,
                                      ctypes.c_char_p, ctypes.POINTER(_Error)]),
    "glueq_sweep": (ctypes.c_int, [ctypes.POINTER(ctypes.c_char_p), SWEEP_PROGRESS, _P, ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(_Error)]),
    "glueq_compare_paired": (None, [ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32),
                                    ctypes.POINTER(ctypes.c_int32), ctypes.c_int, ctypes.POINTER(CompareStats)]),
    "glueq_compare": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_P),
                                     ctypes.POINTER(_Error)]),
    "glueq_comparison_json": (ctypes.c_char_p, [_P]),
    "glueq_comparison_free": (None, [_P]),
}


def _library_path():
    path = os.environ.get("GLUEQ_LIBRARY")
    if path:
        return path
    try:
        from ._library import LIBRARY
        return LIBRARY
    except ImportError:
        return "libglueq.so.%d" % API_VERSION


def _load():
    path = _library_path()
    try:
        # global, so that the CUDA module it may load finds glueq's symbols (as in the glueq binary)
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise ImportError(f"glueq: cannot load {path} ({e}); build glueq and `cmake --install` it, or set "
                          "GLUEQ_LIBRARY to the libglueq.so of a build (python/README.md)") from None
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.glueq_api_version() != API_VERSION:
        raise ImportError(f"glueq: {path} has C API version {lib.glueq_api_version()}, this package needs "
                          f"{API_VERSION}")
    return lib


lib = _load()


def new_error():
    return _Error()


def check(status, err):
    """Raises Error with the C side's message unless status is 0."""
    if status != 0:
        raise Error(err.message.decode("utf-8", "replace"), err.status)


def argv(args):
    """A NULL-terminated char** of the strings args (kept alive by the returned array)."""
    arr = (ctypes.c_char_p * (len(args) + 1))(*[a.encode() for a in args], None)
    return arr
