#!/usr/bin/env python3
"""Paired comparisons of the seed-method sweeps (configs/seeds*.json) with `glueq compare`.

    scripts/seeds_report.py GLUEQ OUT.md RESULTS_DIR [RESULTS_DIR ...]

Reads every results.json given, with predictions.jsonl or predictions.jsonl.xz beside it,
and writes Markdown with, for each claim, a summary by group and every pair (paired
bootstrap 95% interval of the accuracy difference and the exact McNemar p):
  1. every quantized point against uniform with the same task, bits and quantizer
     (algorithm, SARQC included);
  2. ROSAQ's claim: rosaq rotation=pca against rotation=none, same everything else;
  3. SARQC's claim: each λ > 0 against λ = 0, same method, budget and algorithm;
  4. the paper's claim: svd against awq and against spqr, same everything else;
  5. each calibrated algorithm (gptq, awq-scale; SARQC off) against RTN, same point.
All pairs of a claim go through one `glueq compare` call: their A and B points are
written, renumbered pair by pair, into two temporary result directories. Uses python3 alone.
"""
import json
import lzma
import os
import re
import subprocess
import sys
import tempfile

QUANTIZER = ("task", "bits", "scheme", "granularity", "clip", "stats_exclude_protected", "algorithm",
             "act_order", "damp", "sarqc_lambda", "sarqc_saliency", "calib_from")
POINT = QUANTIZER + ("k", "p")
PLAIN = ("task", "bits", "scheme", "granularity", "clip", "stats_exclude_protected", "k", "p", "method",
         "method_options")
# one line of `glueq compare`: task, A (label, 8 hex digits of its id), B (same), acc A, acc B,
# B − A [95% CI], McNemar p, a verdict word; a long label can leave a single space before the next column
ROW_RE = re.compile(r"^\S+\s.* ([0-9a-f]{8})\s.* ([0-9a-f]{8})\s+[\d.]+ \(\d+/\d+\)\s+[\d.]+ \(\d+/\d+\)\s+"
                    r"([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]\s+(\S+)(?:\s+B \w+)?$")
SIGNIFICANT = 0.05


def read_predictions(d):
    """point_id -> the predictions.jsonl line (plain, or xz-compressed as committed)."""
    path = os.path.join(d, "predictions.jsonl")
    lines = open(path).read().splitlines() if os.path.exists(path) else \
        lzma.open(path + ".xz", "rt").read().splitlines()
    return {json.loads(line)["point_id"]: line for line in lines}


def load(dirs):
    rows, preds = [], {}
    for d in dirs:
        preds[d] = read_predictions(d)
        for r in json.load(open(os.path.join(d, "results.json")))["rows"]:
            r["dir"] = d
            rows.append(r)
    return rows, preds


def key(r, fields):
    return tuple(json.dumps(r.get(f)) for f in fields)


def write_side(path, side, preds):
    """One result directory holding the points of one side of the pairs, pair i as id i."""
    os.makedirs(path)
    rows, lines = [], []
    for i, r in enumerate(side):
        pid = f"{i:08x}{i:08x}"  # compare prints the first 8 hex digits
        rows.append(dict({k: v for k, v in r.items() if k != "dir"}, point_id=pid))
        rec = json.loads(preds[r["dir"]][r["point_id"]])
        rec["point_id"] = pid
        lines.append(json.dumps(rec, separators=(",", ":")))
    json.dump({"rows": rows}, open(os.path.join(path, "results.json"), "w"))
    open(os.path.join(path, "predictions.jsonl"), "w").write("\n".join(lines) + "\n")


def compare_all(glueq, pairs, preds):
    """[(B − A pp, low, high, McNemar p)] for each pair, from one glueq compare run."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        write_side(a, [p[0] for p in pairs], preds)
        write_side(b, [p[1] for p in pairs], preds)
        out = subprocess.run([glueq, "compare", a, b], capture_output=True, text=True, check=True).stdout
    stats = {}
    for line in out.splitlines()[1:]:
        m = ROW_RE.match(line.strip())
        if m and m.group(1) == m.group(2):
            stats[int(m.group(1), 16)] = tuple(float(x) for x in m.groups()[2:])
    if len(stats) != len(pairs):
        sys.exit(f"seeds_report: glueq compare gave {len(stats)} rows for {len(pairs)} pairs")
    return [stats[i] for i in range(len(pairs))]


def label(r):
    lam = r.get("sarqc_lambda")
    s = f"{r['method']} int{r['bits']} {r.get('algorithm') or 'rtn'}"
    if lam:
        s += f" λ={lam:g}"
    if r.get("k"):
        s += f" k={r['k']}"
    if r["method"] == "rosaq":
        s += " " + (r.get("method_options") or "")
    if r.get("clip") not in (None, "std:2.5"):
        s += " clip " + r["clip"]
    return s


def acc(r):
    return f"{100 * r['accuracy']:.2f} ({r['correct']}/{r['total']})"


def table(glueq, title, pairs, preds, group, out):
    """Writes a claim's summary by group(A, B) and its pairs; returns the summary counts."""
    stats = compare_all(glueq, pairs, preds) if pairs else []
    groups = {}
    for (a, b), (d, _, _, p) in zip(pairs, stats):
        g = groups.setdefault(group(a, b), [0, 0, 0, 0, 0, 0.0])
        g[0] += 1
        g[1] += d > 0
        g[2] += a["correct"] == b["correct"]
        g[3] += d > 0 and p < SIGNIFICANT
        g[4] += d < 0 and p < SIGNIFICANT
        g[5] += d
    out.append(f"\n## {title}\n\n| group | pairs | B ahead | equal | B significantly ahead | B significantly behind "
               f"| mean B − A (pp) |\n|---|---:|---:|---:|---:|---:|---:|")
    total = [0, 0, 0, 0, 0, 0.0]
    for name in sorted(groups):
        g = groups[name]
        total = [x + y for x, y in zip(total, g)]
        out.append(f"| {name} | {g[0]} | {g[1]} | {g[2]} | {g[3]} | {g[4]} | {g[5] / g[0]:+.2f} |")
    if total[0]:
        out.append(f"| **all** | {total[0]} | {total[1]} | {total[2]} | {total[3]} | {total[4]} "
                   f"| {total[5] / total[0]:+.2f} |")
    out.append(f"\nSignificant: McNemar p < {SIGNIFICANT}; by chance alone about {SIGNIFICANT * total[0]:.0f} of "
               f"{total[0]} pairs would be.\n\n<details><summary>every pair</summary>\n\n"
               "| task | A | B | acc A | acc B | B − A pp [95% CI] | McNemar p |\n|---|---|---|---|---|---|---|")
    for (a, b), (d, lo, hi, p) in zip(pairs, stats):
        out.append(f"| {a['task']} | {label(a)} | {label(b)} | {acc(a)} | {acc(b)} | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] "
                   f"| {p:.3g} |")
    out.append("\n</details>")


def algo(r):
    return r.get("algorithm") or "rtn"


def clip(r):
    """The clip when it is not the grid's std:2.5 (the absmax side study), for group names."""
    return "" if r.get("clip") in (None, "std:2.5") else f" clip {r['clip']}"


def main():
    glueq, out_path, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows, preds = load(dirs)
    rows = [r for r in rows if r["method"] != "fp32"]
    out = ["# Paired comparisons (glueq compare)", "",
           "Generated by `scripts/seeds_report.py` from " + ", ".join(f"`{d}`" for d in dirs) + ". "
           "Each section: a summary by group, then every pair (B − A in percentage points of accuracy, "
           "paired bootstrap 95% interval, exact McNemar p)."]

    def rotation(r):
        return (r.get("method_options") or "").replace("rotation=", "") if r["method"] == "rosaq" else ""
    uniform = {key(r, QUANTIZER): r for r in rows if r["method"] == "uniform"}
    pairs = [(uniform[key(r, QUANTIZER)], r) for r in rows
             if r["method"] != "uniform" and key(r, QUANTIZER) in uniform]
    table(glueq, "Every method (B) against uniform (A), same task, bits and quantizer", pairs, preds,
          lambda a, b: f"{b['method']} {rotation(b)} {b['task']}{clip(b)}".replace("  ", " "),
          out)

    none = {key(r, POINT): r for r in rows if r["method"] == "rosaq" and rotation(r) == "none"}
    pairs = [(none[key(r, POINT)], r) for r in rows
             if r["method"] == "rosaq" and rotation(r) == "pca" and key(r, POINT) in none]
    table(glueq, "ROSAQ's claim: rotated (B, pca) against original space (A, none)", pairs, preds,
          lambda a, b: f"{b['task']} int{b['bits']}{clip(b)}", out)

    base = {key(r, POINT + ("method", "method_options")): r for r in rows
            if algo(r) != "rtn" and not r.get("sarqc_lambda")}
    pairs = []
    for r in rows:
        if r.get("sarqc_lambda"):
            k0 = key(dict(r, sarqc_lambda=0, sarqc_saliency="none"), POINT + ("method", "method_options"))
            if k0 in base:
                pairs.append((base[k0], r))
    table(glueq, "SARQC's claim: λ > 0 (B) against λ = 0 (A), same method, budget, bits and algorithm", pairs, preds,
          lambda a, b: f"λ={b['sarqc_lambda']:g} {algo(b)}", out)

    by = {(r["method"],) + key(r, POINT): r for r in rows}
    for other in ("awq", "spqr"):
        pairs = [(by[(other,) + key(r, POINT)], r) for r in rows
                 if r["method"] == "svd" and (other,) + key(r, POINT) in by]
        table(glueq, f"The paper's claim: svd (B) against {other} (A), same everything else", pairs, preds,
              lambda a, b: f"{b['task']} int{b['bits']}", out)

    rtn = {key(r, PLAIN): r for r in rows if algo(r) == "rtn"}
    pairs = [(rtn[key(r, PLAIN)], r) for r in rows
             if algo(r) != "rtn" and not r.get("sarqc_lambda") and key(r, PLAIN) in rtn]
    table(glueq, "The calibrated algorithms (B, gptq or awq-scale, SARQC off) against RTN (A), same method, "
          "bits and budget", pairs, preds, lambda a, b: f"{algo(b)} int{b['bits']}", out)
    open(out_path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
