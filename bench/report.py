#!/usr/bin/python3
"""Turns bench/run.sh's results (JSON lines) into results/bench.md; standard library only.

  report.py profile PERF_REPORT.txt     one JSON line: the profile's share of each phase
  report.py write RESULTS.jsonl OUT.md  the Markdown report (bench/notes.md appended)
"""
import json
import os
import re
import statistics
import sys

# perf symbol -> phase of the forward (anything else is "rest").
PHASES = [
    ("GEMM (OpenBLAS sgemm)", re.compile(r"^sgemm_|^s?gemm_.*copy|^sgemm")),
    ("attention (attend_head, expf)", re.compile(
        r"^attend_head|^copy_head|^block_scores|^block_softmax|^block_values|^cls_attend_head|^dot_d|^axpy_d|"
        r"^__expf|^expf")),
    ("GELU, LayerNorm, embeddings, bias fills", re.compile(
        r"^gelu|^bias_layer_norm|^embed|^layer_norm|^run_part|^pool_part|^project|^output_and_ffn|^block|"
        r"^last_block_cls|^gather_cls|^classify")),
    ("loading (SHA-256, mapping, tokenizer)", re.compile(r"^sha256|^crc32|^gq_tok|^utf8proc|^gq_ckpt|^clear_page")),
]


def profile(path):
    shares = {name: 0.0 for name, _ in PHASES}
    shares["rest (kernel, OpenBLAS idle threads, libc)"] = 0.0
    top = []
    for line in open(path):
        m = re.match(r"^\s+([0-9.]+)%\s+\[[.k]\]\s+(\S+)", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        if len(top) < 12:
            top.append([sym, pct])
        for name, rx in PHASES:
            if rx.search(sym):
                shares[name] += pct
                break
        else:
            shares["rest (kernel, OpenBLAS idle threads, libc)"] += pct
    print(json.dumps({"kind": "profile", "shares": shares, "top": top}))


def collect(rows, kind):
    """(task, engine) -> [(tokens, seconds, examples, correct)] over the runs of a kind."""
    runs = {}
    for r in rows:
        if r["kind"] != kind:
            continue
        e = r["eval"]
        name = "glueq eval" if r["engine"] == "glueq" else e["peer"]
        runs.setdefault((r["task"], name), []).append(
            (e["tokens"], e["seconds"], e.get("total", e.get("examples")), e.get("correct")))
    return runs


def sgemm_bound_lines(fr, sg, tokens_per_s):
    """The sgemm-bound rate: sgemm GFLOP/s ÷ the full forward's FLOPs per token."""
    full = fr["full_flops_per_token"]
    rate = sg["sgemm_gflops"] * 1e9 / full
    return ["**sgemm-bound rate**: the full forward (every block on every token) costs %.1f MFLOP/token on these "
            "QNLI rows (`gq_encoder_flops_full`); at the measured sgemm %.1f GFLOP/s that is **%.0f tokens/s**. "
            "glueq eval's %.0f tokens/s = **%.2f×** it; paired run by run with the GEMMs (`glueq-bench task`): "
            "**%.2f×**. Above 1× only because the last block runs for the [CLS] rows alone, keys and values "
            "folded into their queries (%.1f MFLOP/token done, %.0f%% less)." % (
                full / 1e6, sg["sgemm_gflops"], rate, tokens_per_s or float("nan"),
                (tokens_per_s or float("nan")) / rate, fr["sgemm_bound_ratio"], fr["flops_per_token"] / 1e6,
                100 * (1 - fr["flops_per_token"] / full)), ""]


def throughput_table(runs):
    """A throughput table of collect()'s runs, and each (task, engine)'s tokens/s (median)."""
    speed = {(task, name): v[0][0] / med([s for _, s, _, _ in v]) for (task, name), v in runs.items()}
    lines = ["| task | engine | examples | tokens | tokens/s | examples/s | glueq ÷ engine | correct |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for task in ("rte", "qnli"):
        g = speed.get((task, "glueq eval"))
        for name in ORDER:
            v = runs.get((task, name))
            if not v:
                continue
            tok, ex, corr, s = v[0][0], v[0][2], v[0][3], speed[(task, name)]
            lines.append("| %s | %s | %d | %d | %.0f | %.1f | %s | %s |" % (
                task.upper(), name, ex, tok, s, ex * s / tok, "%.2f×" % (g / s) if g else "–", corr))
    return lines, speed


def speed_targets(target, q, fr, sg):
    """The CPU targets on QNLI dev from one section's runs."""
    if q.get("glueq eval") and q.get("onnxruntime"):
        target("glueq ≥ 1.2× ONNX Runtime", q["glueq eval"] / q["onnxruntime"], 1.2, "%.2f×")
    if q.get("glueq eval") and q.get("pytorch-eager"):
        target("glueq ≥ 1.9× PyTorch eager (bucketed)", q["glueq eval"] / q["pytorch-eager"], 1.9, "%.2f×")
    if fr and sg and q.get("glueq eval"):
        rate = sg["sgemm_gflops"] * 1e9 / fr["full_flops_per_token"]
        target("glueq tokens/s ≥ 1.1× sgemm-bound rate", q["glueq eval"] / rate, 1.1, "%.2f×")
        target("… paired with the GEMMs run by run", fr["sgemm_bound_ratio"], 1.1, "%.3f×")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


ORDER = ["glueq eval", "onnxruntime", "pytorch-eager", "pytorch-eager-padded128"]


def write(results, out):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    one = {r["kind"]: r for r in rows}
    mach = one["machine"]
    lines = ["# glueq benchmark", "",
             "Written by `bench/run.sh` (do not edit by hand; the analysis comes from `bench/notes.md`).", "",
             "| | |", "|---|---|",
             "| machine | %s, %d CPUs |" % (mach["cpu"], mach["cpus"]),
             "| BLAS | %s |" % one["sgemm"]["openblas"],
             "| peers | PyTorch %s (eager), onnxruntime-node %s |" % (mach["torch"], mach["onnxruntime"]),
             "| threads | %d for every engine |" % mach["threads"],
             "| model | DistilBERT-base shape (768/6/12/3072, vocab 30522), seeded random FP32 weights, %.0f MB safetensors%s |"
             % (mach["checkpoint_bytes"] / 1e6, "; BERT-base shape below" if one.get("bert_sgemm") else ""),
             "| runs | median of %d, engines interleaved run by run |" % mach["reps"],
             "| data | RTE dev %s, QNLI dev %s; the peers read the same ids (fixtures/tokrefs ids128) |"
             % ("all" if mach["rte_limit"] == 0 else "first %d" % mach["rte_limit"],
                "all" if mach["qnli_limit"] == 0 else "first %d" % mach["qnli_limit"]),
             "| glueq revision | %s |" % mach["revision"],
             "| load average (1, 5, 15 min) | before %s, after %s (2 CPUs shared with other users) |"
             % (mach.get("load_before", "?"), one.get("end", {}).get("load_after", "?")),
             "| command | `%s` |" % mach["command"], ""]

    # throughput
    table, speed = throughput_table(collect(rows, "run"))
    lines += ["## Throughput", "",
              "tokens/s counts real tokens (padding excluded); seconds are forward time only for glueq "
              "(`--json`) and the timed loop of peers.py for the peers.", "",
              "### DistilBERT-base (768/6/12/3072)", ""] + table + [""]
    br = collect(rows, "bert_run")
    bert_table, bert_speed = throughput_table(br)
    bsg = one.get("bert_sgemm")
    if br:
        lines += ["### BERT-base (768/12/12/3072, 2 token types, the pooler)", "",
                  "The peers run HF BertForSequenceClassification restated (`bench/peers_bert.py`), token types "
                  "derived from the ids inside the model; OpenBLAS %s kernels (the CPU's best; section BERT-base "
                  "shape below); glueq revision %s." % ((bsg or {}).get("core", "?"),
                                                       one.get("bert_revision", mach)["revision"]), ""]
        lines += bert_table + [""]

    # limits
    fr, sg = one.get("fraction"), one["sgemm"]
    lines += ["## The machine's limit", "",
              "OpenBLAS sgemm on the forward's six Linear shapes per block (M = %d rows, "
              "`glueq-bench sgemm`): **%.1f GFLOP/s** (median of %d)." % (sg["M"], sg["sgemm_gflops"], sg["reps"]), ""]
    if fr:
        lines += ["The forward on QNLI dev (%d examples, `glueq-bench task`), each timed run followed by the same "
                  "GEMMs alone so that both see the same machine state: forward **%.1f GFLOP/s** "
                  "(`gq_encoder_flops`: the work done, %.1f MFLOP/token), sgemm %.1f GFLOP/s, **forward = %.0f%% of "
                  "sgemm** (median of the per-run ratios)." % (
                      fr["examples"], fr["gflops"], fr["flops_per_token"] / 1e6, fr["sgemm_gflops"],
                      100 * fr["fraction_of_sgemm"]), ""]
        lines += sgemm_bound_lines(fr, sg, speed.get(("qnli", "glueq eval")))
    mem = one.get("memory")
    if mem:
        ck = mach["checkpoint_bytes"]
        lines += ["## Memory", "",
                  "Peak resident set of `glueq eval` on QNLI (`/usr/bin/time -v`): **%.0f MB** = **%.2f×** the "
                  "checkpoint (%.0f MB)." % (mem["max_rss_kb"] * 1024 / 1e6, mem["max_rss_kb"] * 1024 / ck, ck / 1e6),
                  ""]

    # scaling
    sl = [r for r in rows if r["kind"] == "seqlen"]
    if sl:
        lines += ["## Scaling", "",
                  "Synthetic sequences of exactly L tokens, batches of 4096 tokens (`glueq-bench seqlen`); "
                  "sgemm GFLOP/s measured alternately at the same M.", "",
                  "| threads | L | tokens/s | forward GFLOP/s | sgemm GFLOP/s | forward ÷ sgemm |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for r in sl:
            lines.append("| %d | %d | %.0f | %.1f | %.1f | %.0f%% |" % (
                r["threads"], r["len"], r["tokens_per_s"], r["gflops"], r["sgemm_gflops"],
                100 * r["fraction_of_sgemm"]))
        lines.append("")
    prof = one.get("profile")
    if prof:
        lines += ["## Where the time goes", "",
                  "`perf record -g` of `glueq eval` on QNLI (both threads' samples, model loading included):", "",
                  "| phase | share of samples | share without loading |", "|---|---:|---:|"]
        load = [v for k, v in prof["shares"].items() if k.startswith("loading")][0]
        lines += ["| %s | %.1f%% | %s |" % (k, v, "–" if k.startswith("loading") else "%.1f%%" % (100 * v / (100 - load)))
                  for k, v in prof["shares"].items()]
        lines += ["", "Top symbols: " + ", ".join("`%s` %.1f%%" % (s, p) for s, p in prof["top"]), ""]

    # targets
    q = {n: speed.get(("qnli", n)) for n in ORDER}
    lines += ["## Targets (%d threads, QNLI dev, OpenBLAS %s kernels)" % (mach["threads"], sg.get("core", "?")), "", "| target | measured | met |", "|---|---|---|"]

    def target(label, value, goal, fmt):
        if value is None:
            return
        lines.append("| %s | %s | %s |" % (label, fmt % value, "yes" if value >= goal else "**no**"))

    speed_targets(target, q, fr, sg)
    if fr:
        target("forward ≥ 85% of sgemm", fr["fraction_of_sgemm"], 0.85, "%.2f")
    if mem:
        ratio = mem["max_rss_kb"] * 1024 / mach["checkpoint_bytes"]
        lines.append("| peak memory ≤ 1.5× checkpoint | %.2f× | %s |" % (ratio, "yes" if ratio <= 1.5 else "**no**"))
    lines.append("")

    # the BERT-base shape
    if br:
        bf = one.get("bert_fraction")
        lines += ["## BERT-base shape", "",
                  "A BERT-base-shaped checkpoint (768/12/12/3072, vocab 30522, 2 token types, the pooler), seeded "
                  "random FP32 weights (`glueq-bench make-base --shape bert-base`), the same threads; every engine "
                  "on OpenBLAS's best kernels for this CPU (SkylakeX where OpenBLAS passed AVX-512 over), "
                  "throughput in the table above."]
        lines += ["", "The peers' model (`bench/peers_bert.py check`) against the reference logits of "
                  "`tests/fixtures/encoders`: " + "; ".join(
                      "%s: max |Δlogit| %.1e one sequence at a time, %.1e as one padded batch, token types %s" % (
                          os.path.basename(c["fixture"]), c["max_abs_one_at_a_time"], c["max_abs_padded_batch"],
                          "as the fixture's" if c["token_types_match"] else "**not** the fixture's")
                      for c in rows if c["kind"] == "bert_peer_check") + "."]
        if bsg:
            lines += ["", "OpenBLAS sgemm on the Linear shapes (the same for BERT-base): **%.1f GFLOP/s** (%s)." % (
                bsg["sgemm_gflops"], bsg["openblas"])]
        if bf:
            lines += ["", "Forward on QNLI (%d examples, `glueq-bench task`): %.1f GFLOP/s = **%.0f%% of sgemm**; "
                      "**%.2f×** the sgemm-bound rate, paired run by run." % (
                          bf["examples"], bf["gflops"], 100 * bf["fraction_of_sgemm"], bf["sgemm_bound_ratio"])]
            if bsg:
                lines += [""] + sgemm_bound_lines(bf, bsg, bert_speed.get(("qnli", "glueq eval")))
        lines += ["", "Targets on BERT-base (OpenBLAS %s kernels):" % (bsg or {}).get("core", "?"), "",
                  "| target | measured | met |", "|---|---|---|"]
        speed_targets(target, {n: bert_speed.get(("qnli", n)) for n in ORDER}, None, None)  # the peers' alone
        lines.append("")

    # the AVX-512 variant
    av = collect(rows, "avx512")
    if av:
        sg2, fr2 = one.get("sgemm_avx512"), one.get("fraction_avx512")
        lines += ["## With OpenBLAS's AVX-512 kernels (`OPENBLAS_CORETYPE=SkylakeX`)", "",
                  "The same QNLI runs with every engine's OpenBLAS (glueq's and PyTorch's) switched to its "
                  "SkylakeX kernels; ONNX Runtime uses its own kernels either way.", ""]
        if sg2:
            lines += ["sgemm on the forward's shapes: **%.1f GFLOP/s** (%s)." % (sg2["sgemm_gflops"], sg2["openblas"])]
        if fr2:
            lines += ["Forward on QNLI: %.1f GFLOP/s = **%.0f%% of sgemm** (paired runs)." % (
                fr2["gflops"], 100 * fr2["fraction_of_sgemm"])]
        sp = {name: v[0][0] / med([x[1] for x in v]) for (task, name), v in av.items()}
        if fr2 and sg2:
            lines += [""] + sgemm_bound_lines(fr2, sg2, sp.get("glueq eval"))
        lines += ["", "| engine | tokens/s | examples/s | glueq ÷ engine | correct |", "|---|---:|---:|---:|---:|"]
        for name in ORDER:
            v = av.get(("qnli", name))
            if v:
                sec = med([x[1] for x in v])
                lines.append("| %s | %.0f | %.1f | %.2f× | %s |" % (
                    name, v[0][0] / sec, v[0][2] / sec, sp["glueq eval"] / sp[name], v[0][3]))
        lines += ["", "Targets with these kernels:", "", "| target | measured | met |", "|---|---|---|"]
        speed_targets(target, sp, fr2, sg2)
        lines.append("")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if os.path.exists(notes):
        lines += [open(notes).read().rstrip(), ""]
    open(out, "w").write("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1] == "profile":
        profile(sys.argv[2])
    else:
        write(sys.argv[2], sys.argv[3])
