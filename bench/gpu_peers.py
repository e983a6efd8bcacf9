#!/usr/bin/env python3
"""glueq's GPU peers on the same token ids (fixtures/tokrefs/<task>-dev.jsonl, ids128, which
glueq's tokenizer reproduces), same machine, FP32 with TF32 off; and cuBLAS sgemm at the
forward's shapes. Prints one JSON line per measurement.

usage:
  gpu_peers.py run MODEL_DIR TASK --tokrefs DIR [--reps 3]
      The model as its config.json says (transformers' AutoModelForSequenceClassification,
      eager attention: DistilBERT, BERT), padded to 128 in batches of 32 (the run_glue
      habit); the same model length-bucketed (sorted by length, each batch padded to its
      longest) in batches of 32 and 256; and torch.compile of it (dynamic shapes), batches
      of 256. A BERT gets token_type_ids as its tokenizer gives them (bench/peers_bert.py's
      token_types: 1 after the first [SEP], [SEP]'s id from MODEL_DIR/vocab.txt, else
      $GLUEQ_SHARED/assets/vocab), made with the batches, outside the timed passes. Median of
      --reps timed passes over the whole dev set after one warm-up pass.
  gpu_peers.py sgemm --tokens M [--reps 20]
      torch.mm FP32 (cuBLAS) on the four Linear shapes of a DistilBERT-base block with M
      rows: GFLOP/s of each and FLOP-weighted over a block. A BERT-base block has the same
      four shapes (768 -> 3x768, 768 -> 768, 768 -> 3072, 3072 -> 768), so these rates are its
      too.
"""
import json, os, statistics, sys, time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
DEV = "cuda"


def arg(a, name, default):
    return type(default)(a[a.index(name) + 1]) if name in a else default


def batches(tokrefs, task, bs, padded, types=None):
    """The dev set's ids128 in batches of the model's keyword arguments, on the GPU: input_ids and
    attention_mask, and token_type_ids = types(ids, mask) where types is given."""
    rows = [json.loads(l) for l in open(os.path.join(tokrefs, f"{task}-dev.jsonl"))]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["ids128"]))
    out = []
    for s in range(0, len(order), bs):
        b = [rows[i]["ids128"] for i in order[s:s + bs]]
        T = 128 if padded else max(len(r) for r in b)
        ids = torch.zeros((len(b), T), dtype=torch.long)
        att = torch.zeros((len(b), T), dtype=torch.long)
        for j, r in enumerate(b):
            ids[j, :len(r)] = torch.tensor(r)
            att[j, :len(r)] = 1
        x = {"input_ids": ids, "attention_mask": att}
        if types:
            x["token_type_ids"] = types(ids, att)
        out.append({k: v.to(DEV) for k, v in x.items()})
    return out, sum(len(rows[i]["ids128"]) for i in order)


def timed_pass(fn, bl):
    torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.inference_mode():
        for x in bl:
            fn(x)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def token_types_of(model_dir):
    """For a model that takes token types (BERT): (ids, mask) -> its token_type_ids; else None."""
    if json.load(open(os.path.join(model_dir, "config.json"))).get("model_type") != "bert":
        return None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peers_bert import sep_id, token_types
    sep = sep_id(model_dir)
    return lambda ids, mask: token_types(ids, mask, sep)


def run(a):
    from transformers import AutoModelForSequenceClassification
    model_dir, task, tokrefs, reps = a[1], a[2], arg(a, "--tokrefs", ""), arg(a, "--reps", 3)
    load = AutoModelForSequenceClassification.from_pretrained
    try:
        m = load(model_dir, attn_implementation="eager", dtype=torch.float32)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        m = load(model_dir, attn_implementation="eager", torch_dtype=torch.float32)
    m = m.to(DEV).eval()
    types = token_types_of(model_dir)
    eager = lambda x: m(**x).logits
    compiled = torch.compile(eager, dynamic=True)
    import transformers
    for name, fn, bs, padded in [("hf-eager-padded128", eager, 32, True), ("torch-eager-bucketed", eager, 32, False),
                                 ("torch-eager-bucketed", eager, 256, False),
                                 ("torch-compile-bucketed", compiled, 256, False)]:
        bl, tokens = batches(tokrefs, task, bs, padded, types)
        t0 = time.perf_counter()
        timed_pass(fn, bl)  # warm-up (and compilation)
        warm = time.perf_counter() - t0
        secs = [timed_pass(fn, bl) for _ in range(reps)]
        sec = statistics.median(secs)
        print(json.dumps({"kind": "peer", "peer": name, "task": task, "batch": bs, "tokens": tokens,
                          "seconds": round(sec, 4), "all_seconds": [round(s, 4) for s in secs],
                          "warmup_seconds": round(warm, 2), "tokens_per_s": round(tokens / sec, 1),
                          "model_type": m.config.model_type, "token_types": types is not None,
                          "torch": torch.__version__, "transformers": transformers.__version__,
                          "gpu": torch.cuda.get_device_name()}), flush=True)


def sgemm(a):
    M, reps = arg(a, "--tokens", 16384), arg(a, "--reps", 20)
    d, h = 768, 3072
    shapes = [("qkv", d, 3 * d), ("out_lin", d, d), ("lin1", d, h), ("lin2", h, d)]
    total_f = total_t = 0.0
    for name, k, n in shapes:
        x = torch.randn(M, k, device=DEV)
        w = torch.randn(n, k, device=DEV)
        for _ in range(3):
            x @ w.t()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for s, e in ev:
            s.record()
            x @ w.t()
            e.record()
        torch.cuda.synchronize()
        t = statistics.median(s.elapsed_time(e) for s, e in ev) / 1e3
        f = 2.0 * M * k * n
        total_f += f
        total_t += t
        print(json.dumps({"kind": "sgemm", "shape": name, "m": M, "k": k, "n": n, "gflops": round(f / t / 1e9, 1)}))
    print(json.dumps({"kind": "sgemm_block", "m": M, "gflops": round(total_f / total_t / 1e9, 1),
                      "gpu": torch.cuda.get_device_name()}), flush=True)


if __name__ == "__main__":
    {"run": run, "sgemm": sgemm}[sys.argv[1]](sys.argv[1:])
