#!/usr/bin/python3
"""Fits the erf polynomials of model/encoder_cpu.c (erf_fast) and checks them in float.

  erf(x) = x + x * P(x^2)        on [0, 1)      P of degree 6
  erf(x) = 1 - Q(x - 2.46)       on [1, 3.92)   Q of degree 14 (a fit of erfc)
  erf(x) = 1                     beyond         (erf(3.92) rounds to 1 in float)

Minimax by Lawson's iteratively reweighted least squares on a dense grid, in double;
then every float of [FLT_MIN, 4.5) with stride 7 is evaluated as the C code does (Horner
with one rounding per fused multiply-add) and compared with math.erf. Prints the
coefficients as C literals and the measured error. Needs python3-numpy.
"""
import math

import numpy as np

F32 = np.float32


def lawson(a, y, iters=300):
    w = np.ones(len(y)) / len(y)
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        e = np.abs(a @ c - y)
        w = w * (e + 1e-300)
        w /= w.sum()
    return c


def fit():
    x = np.linspace(1e-4, 1.0, 20000)
    p = lawson(np.vstack([x * x ** (2 * i) for i in range(7)]).T, np.array([math.erf(v) for v in x]) - x)
    x = np.linspace(1.0, 3.92, 20000)
    q = lawson(np.vstack([(x - float(F32(2.46))) ** i for i in range(15)]).T, np.array([math.erfc(v) for v in x]))
    return p.astype(F32), q.astype(F32)


def fma(a, b, c):  # one rounding, as fmaf
    return (a.astype(np.float64) * np.asarray(b, np.float64) + np.float64(c)).astype(F32)


def erf_fast(x, p, q):
    a = np.abs(x)
    s = np.full_like(a, p[-1])
    for c in p[-2::-1]:
        s = fma(s, a * a, c)
    t = (a - F32(2.46)).astype(F32)
    e = np.full_like(a, q[-1])
    for c in q[-2::-1]:
        e = fma(e, t, c)
    y = np.where(a < 1, fma(a, s, a), np.where(a < F32(3.92), F32(1) - e, F32(1)))
    return np.copysign(y, x)


def main():
    p, q = fit()
    print("ERF_P", ", ".join("%.9gf" % v for v in p))
    print("ERF_Q", ", ".join("%.9gf" % v for v in q))
    bits = np.arange(np.float32(1.17549435e-38).view(np.int32), np.float32(4.5).view(np.int32), 7, dtype=np.int32)
    x = bits.view(F32)
    ref = np.array([math.erf(float(v)) for v in x])
    err = np.abs(erf_fast(x, p, q).astype(np.float64) - ref)
    ulp = np.spacing(ref.astype(F32)).astype(np.float64)
    print("max abs error %.3g, max relative %.3g, max %.2f ulp over %d floats"
          % (err.max(), (err / ref).max(), (err / ulp).max(), len(x)))


if __name__ == "__main__":
    main()
