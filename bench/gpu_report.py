#!/usr/bin/env python3
"""bench/gpu.sh's report.

  gpu_report.py grid SWEEP_LOG T0 T1     one JSON line: the grid's wall time and where it went
  gpu_report.py seeds T0 T1 SWEEP_LOG... one JSON line: the seeds grid's wall time and where it went
  gpu_report.py write RESULTS.jsonl OUT.md TOKREFS_DIR
"""
import json, os, re, statistics, sys

D, H, LABELS = 768, 3072, 2  # DistilBERT-base and BERT-base alike
LAYERS, BERT_LAYERS = 6, 12


def grid(log, t0, t1):
    text = open(log).read()
    fp32 = [float(x) for x in re.findall(r"fp32: .* in ([0-9.]+) s", text)]
    points = re.findall(r"\] #\d+ (\w+) (\w+)[^|]*\| ([0-9.]+) s \|", text)
    by_method, first = {}, {}
    for task, method, secs in points:
        by_method.setdefault(method, []).append(float(secs))
        first.setdefault((task, method), float(secs))
    return {"kind": "grid", "wall_seconds": round(float(t1) - float(t0), 2), "points": len(points) + len(fp32),
            "fp32_eval_seconds": round(sum(fp32), 2),
            "seconds_by_method": {m: round(sum(v), 2) for m, v in by_method.items()},
            "first_point_seconds": {f"{t} {m}": s for (t, m), s in first.items()},
            "point_seconds_median": {m: statistics.median(v) for m, v in by_method.items()},
            "calibration": re.findall(r"calibration: (\d+) tokens in ([0-9.]+) s", text),
            "prepare": re.findall(r"method (\w+): prepared \d+ matrices in ([0-9.]+) s", text),
            "stages": where_time_went(text)}


def where_time_went(text):
    """The sweep's summary line ("sweep: where the time went: wall W s; stage S s P%, ..."), summed
    over the sweeps of the log text: {stage: seconds}, wall included."""
    total = {}
    for line in re.findall(r"sweep: where the time went: (.*)", text):
        for name, secs in re.findall(r"(\w+) ([0-9.]+) s", line):
            total[name] = round(total.get(name, 0) + float(secs), 2)
    return total


def seeds(t0, t1, *logs):
    text = "".join(open(l).read() for l in logs)
    return {"kind": "seeds", "wall_seconds": round(float(t1) - float(t0), 2), "configs": len(logs),
            "points": len(re.findall(r"\] #\d+ ", text)) + len(re.findall(r"fp32: .* in [0-9.]+ s", text)),
            "stages": where_time_went(text)}


def stage_line(stages):
    wall = stages.get("wall", 0)
    return ", ".join(f"{k} {v:.1f} s ({100 * v / wall:.0f}%)" for k, v in stages.items() if k != "wall" and wall)


def full_forward_flops(tokrefs, layers):
    """QNLI dev's full forward: FLOPs and tokens (the head: pre_classifier or pooler, classifier)."""
    f, n = 0.0, 0
    for line in open(os.path.join(tokrefs, "qnli-dev.jsonl")):
        T = len(json.loads(line)["ids128"])
        f += layers * (2 * T * (4 * D * D + 2 * D * H) + 4 * T * T * D) + 2 * (D * D + D * LABELS)
        n += T
    return f, n


def engine_table(glueq_tps, peers):
    """The table of glueq's warm tokens/s and the peers', with glueq's ratio to each."""
    out = ["| engine | batch | tokens/s | glueq ÷ engine |", "|---|---|---:|---:|"]
    if glueq_tps:
        out.append(f"| glueq `--device cuda` (exact [CLS] cut in the last block) | 16384 tokens | {glueq_tps:,.0f} | 1.00 |")
    for p in peers:
        out.append(f"| {p['peer']} | {p['batch']} seqs | {p['tokens_per_s']:,.0f} | "
                   f"{glueq_tps / p['tokens_per_s']:.2f} |" if glueq_tps else "")
    return out


def bert_lines(get, fpt):
    """The BERT-base section: glueq and the peers on the BERT-base-shaped checkpoint."""
    w, g, peers = get("bert_glueq_warm"), get("bert_glueq"), get("bert_peer")
    if not (w or g or peers):
        return []
    cold_tps = statistics.median(r["eval"]["tokens"] / r["eval"]["seconds"] for r in g) if g else None
    glueq_tps = w[0]["tokens_per_s"] if w else cold_tps
    out = ["", "## BERT-base shape, QNLI dev", "",
           f"The same runs on a BERT-base-shaped checkpoint (768/12/12/3072, 2 token types, the pooler; "
           f"`glueq-bench make-base --shape bert-base --seed 0`), full forward {fpt / 1e6:.1f} MFLOP/token. The peers "
           "load it with transformers' AutoModelForSequenceClassification (eager attention) and get token_type_ids as "
           "the tokenizer gives them (0 through the first [SEP], 1 after), made outside the timed passes. "
           "`glueq eval --device cuda`, one cold process per run: " +
           (f"{cold_tps:,.0f} tokens/s (median of {len(g)} processes)." if cold_tps else "not run."), ""]
    out += engine_table(glueq_tps, peers)
    if peers:
        out += ["", "Warm-up (and, for torch.compile, compilation) excluded: " +
                ", ".join(str(p["warmup_seconds"]) + " s" for p in peers) + "."]
    sg = get("sgemm_block")
    if sg and glueq_tps:
        bound = sg[0]["gflops"] * 1e9 / fpt
        out += ["", f"Against the cuBLAS sgemm limit (a BERT-base block has DistilBERT-base's four Linear shapes, "
                    f"table below): sgemm-bound rate {bound:,.0f} tokens/s; glueq runs at {glueq_tps / bound:.2f}× it."]
    comp = [p for p in peers if p["peer"].startswith("torch-compile")]
    if glueq_tps and comp:
        c = glueq_tps / comp[0]["tokens_per_s"]
        out += ["", f"Target glueq ≥ 1.1× torch.compile on BERT-base: {c:.2f}× warm, " +
                ("met" if c >= 1.1 else "**missed**") +
                (f"; {cold_tps / comp[0]['tokens_per_s']:.2f}× for one cold `glueq eval` process"
                 if cold_tps else "") + "."]
    return out


def write(results, md, tokrefs):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    get = lambda k: [r for r in rows if r.get("kind") == k]
    mach = get("machine")[0]
    flops, ntok = full_forward_flops(tokrefs, LAYERS)
    fpt = flops / ntok
    out = [f"# glueq on one GPU: CUDA backend vs PyTorch", "",
           f"GPU: {mach['gpu']}; {mach['cpus']} CPU cores; glueq {mach['revision']}; medians of {mach['reps']} runs.",
           f"Command: `{mach['command']}` (see the script's header). Model: DistilBERT-base shape "
           f"(`glueq-bench make-base --seed 0`), QNLI dev, {ntok:,} tokens, full forward "
           f"{fpt / 1e6:.1f} MFLOP/token. FP32 everywhere, TF32 off.", ""]
    g, w = get("glueq"), get("glueq_warm")
    cold_tps = statistics.median(r["eval"]["tokens"] / r["eval"]["seconds"] for r in g) if g else None
    glueq_tps = w[0]["tokens_per_s"] if w else cold_tps
    peers = get("peer")
    out += ["## QNLI dev throughput", "",
            "Timed as the peers are: the median of warm passes over the dev set in one process "
            "(`glueq-bench task --device cuda`). `glueq eval --device cuda`, one cold process per run, whose seconds "
            "time the forwards once the runner is ready (they never timed its opening; its start, with a warm-up "
            "batch that loads the kernels, now runs beside the tokenization): " +
            (f"{cold_tps:,.0f} tokens/s (median of {len(g)} processes)." if cold_tps else "not run.")]
    if g and "process_seconds" in g[0]:
        out[-1] += (f" Each process took {statistics.median(r['process_seconds'] for r in g):.2f} s in all (median; "
                    "loading, checkpoint hash, tokenization, the GPU's start and the forward); the runner's account "
                    f"of its cold start in the first: `{g[0]['cold_start']}`.")
    out += [""] + engine_table(glueq_tps, peers)
    if peers:
        out += ["", f"torch {peers[0]['torch']}, transformers {peers[0]['transformers']}; warm-up (and, for "
                    f"torch.compile, compilation) excluded: {', '.join(str(p['warmup_seconds']) + ' s' for p in peers)}."]
    out += bert_lines(get, full_forward_flops(tokrefs, BERT_LAYERS)[0] / ntok)
    sg = get("sgemm_block")
    if sg and glueq_tps:
        rate = sg[0]["gflops"] * 1e9
        bound = rate / fpt
        out += ["", "## Against the cuBLAS FP32 sgemm limit", "",
                "| shape (M = 16384 rows) | GFLOP/s |", "|---|---:|"]
        out += [f"| {r['shape']} ({r['k']}→{r['n']}) | {r['gflops']:,.0f} |" for r in get("sgemm")]
        out += [f"| a block's four, FLOP-weighted | {sg[0]['gflops']:,.0f} |", "",
                f"sgemm-bound rate = {sg[0]['gflops']:,.0f} GFLOP/s ÷ {fpt / 1e6:.1f} MFLOP/token = "
                f"{bound:,.0f} tokens/s; glueq runs at {glueq_tps / bound:.2f}× it (over 1 only through the [CLS] cut), "
                f"i.e. {glueq_tps * fpt / 1e9:,.0f} GFLOP/s counted as full-forward FLOPs."]
    cs = get("cpu_sgemm")
    if cs:
        out += ["", f"CPU: {mach.get('cpu', '?')}, where the quantizers, scoring and calibration statistics run; "
                    "OpenBLAS sgemm " + "; ".join(f"{c['sgemm_gflops']:,.0f} GFLOP/s on {c['threads']} threads "
                                                  f"({c['openblas']})" for c in cs) + "."]
    ca = get("cold_ab")
    if ca:
        x = ca[0]
        out += ["", "## Cold start: one `glueq eval --device cuda` process on QNLI dev", "",
                f"`{x['command']}`, interleaved, {x['reps']} runs each (medians): before the runner's start moved "
                f"beside the tokenization ({x['before']}): forward {x['before_tokens_per_s']:,.0f} tokens/s, "
                f"process {x['before_process_s']:.2f} s; after ({x['after']}): {x['after_tokens_per_s']:,.0f} tokens/s, "
                f"{x['after_process_s']:.2f} s.", "",
                "Where a process's time goes (separate commands, medians of 3): " +
                ", ".join(f"{k} {v:.2f} s" for k, v in x["phases"].items()) + ". " + x["note"]]
    ex = get("exactness")
    if ex:
        out += ["", "## Exactness (`GLUEQ_CUDA_BASE_MODEL=build/gpubench/base ctest -L cuda -V`, with a bundle "
                "`ctest --test-dir DIR -L cuda -V`; same machine)", ""]
        out += [f"- {l}" for l in ex[0]["lines"]]
    mem = get("memory")
    if mem:
        m = mem[0]
        out += ["", "## GPU memory", "",
                f"`glueq eval --device cuda` on QNLI: peak {m['gpu_used_peak_mib']:,} MiB used on the GPU "
                f"({m['gpu_used_before_mib']:,} MiB before it started; nvidia-smi every 50 ms), for a checkpoint of "
                f"{m['checkpoint_bytes'] / 2**20:,.0f} MiB."]
    gr = get("grid")
    if gr:
        x = gr[0]
        out += ["", "## configs/paper.json on base-shaped models (device cuda)", "",
                f"{x['points']} points (MRPC, RTE, QNLI; uniform, svd, awq, spqr at 4 bits; k = 1..4096) in "
                f"**{x['wall_seconds']:.1f} s** wall, from a fresh method cache (scoring and calibration included).", "",
                f"Where it went: FP32 baselines {x['fp32_eval_seconds']:.1f} s; per method (all its points, scoring "
                f"included): " + ", ".join(f"{k} {v:.1f} s" for k, v in x["seconds_by_method"].items()) +
                "; median point (quantize + evaluate): " +
                ", ".join(f"{k} {v:.2f} s" for k, v in x["point_seconds_median"].items()) +
                "; first point of each method and task (scoring included): " +
                ", ".join(f"{k} {v:.1f} s" for k, v in x["first_point_seconds"].items()) + "."]
        out += ["", "Calibration (the GPU forward over 128 rows, hooked activations copied out, statistics in "
                    "double on the CPU): " + ", ".join(f"{t} tokens in {s} s" for t, s in x["calibration"]) +
                "; method preparation on the CPU: " + ", ".join(f"{m} {s} s" for m, s in x["prepare"]) + ". "
                "The rest is per point: quantizing the 36 matrices on the CPU, uploading them, evaluating, "
                "and journalling (about 0.2 s a point, plus the evaluation: 0.5 s on QNLI)."]
        if x.get("stages"):
            out += ["", "By stage (the sweep's own summary; docs/outputs.md names the stages): " +
                    stage_line(x["stages"]) + "."]
    se = get("seeds")
    if se:
        x = se[0]
        out += ["", "## The seeds grid (configs/seeds*.json, mlm models, device cuda)", "",
                f"{x['configs']} configs, {x['points']} points in **{x['wall_seconds']:.1f} s** wall, from a fresh "
                "method cache. By stage: " + stage_line(x["stages"]) + "."]
    sh = get("shards")
    if sh:
        x = sh[0]
        out += ["", "## Two GPUs: the same grid in two shards, one process per GPU", "",
                f"On {x['machine']}: `{x['command']}` — both shards in **{x['seconds']} s**, then "
                f"`glueq merge` in {x['merge_seconds']} s ({x['rows']} rows). Each shard computes its tasks' FP32 "
                "references, calibration and method states itself, so two GPUs save only the per-point work."]
    comp = [p for p in peers if p["peer"].startswith("torch-compile")]
    hf = [p for p in peers if p["peer"].startswith("hf-eager-padded")]
    if glueq_tps and comp and hf and gr:
        met = lambda ok: "met" if ok else "**missed**"
        c, h, wall = glueq_tps / comp[0]["tokens_per_s"], glueq_tps / hf[0]["tokens_per_s"], gr[0]["wall_seconds"]
        out += ["", "## The targets on this card", "",
                f"- glueq ≥ 1.1× torch.compile: {c:.2f}× warm, {met(c >= 1.1)}" +
                (f"; {cold_tps / comp[0]['tokens_per_s']:.2f}× for one cold `glueq eval` process, "
                 f"{met(cold_tps / comp[0]['tokens_per_s'] >= 1.1)}" if cold_tps else ""),
                f"- glueq ≥ 2.5× HF eager padded-128: {h:.2f}×, {met(h >= 2.5)}",
                f"- the 69-point paper grid on base-shaped models in ≤ 60 s: {wall:.1f} s, {met(wall <= 60)}"]
    open(md, "w").write("\n".join(l for l in out if l is not None) + "\n")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "grid":
        print(json.dumps(grid(*a[1:4])))
    elif a[0] == "seeds":
        print(json.dumps(seeds(*a[1:])))
    else:
        write(*a[1:4])
