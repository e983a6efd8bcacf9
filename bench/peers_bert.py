#!/usr/bin/python3
"""shared/bench/peers.py's peers (PyTorch eager and ONNX Runtime) on a BERT checkpoint: a
faithful restatement of HF BertForSequenceClassification, run by peers.py's own batching,
timing, ONNX export and output (imported, not copied).

usage:
  peers_bert.py run DIR TASK [peers.py run flags]   as peers.py run, on a BERT checkpoint
      (config.json + model.safetensors with HF's tensor names, e.g. glueq-bench make-base
      --shape bert-base); prints peers.py's JSON lines
  peers_bert.py check FIXTURE_DIR                   the restatement against a fixture's
      expected.safetensors (tests/fixtures/encoders/bert-*): its logits one sequence at a
      time and as one padded batch, and the token types it derives against the fixture's;
      prints one JSON line, exits 1 when a logit is off by more than LOGIT_ATOL
peers.py is found in $GLUEQ_SHARED/bench, else ../shared/bench beside the repository.
Token types are derived from the ids inside the model (0 through the first [SEP], 1 after,
0 on padding, as HF's tokenizer gives them for [CLS] a [SEP] b [SEP]), so that the model,
and its ONNX export, take the ids and the attention mask alone, as peers.py feeds them.
"""
import json
import math
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("GLUEQ_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "bench"))
import peers  # noqa: E402  (shared/bench/peers.py)

# The bound a peer's logits must meet; measured on the fixtures: 0 one sequence at a time (the
# same operations in the same order), 1.5e-7 as one padded batch, 1.3e-7 against the FP64 logits.
LOGIT_ATOL = 1e-5


def token_types(ids, mask, sep):
    """HF's token_type_ids of [CLS] a [SEP] b [SEP] rows: 1 after the first [SEP] (id sep), else 0;
    0 on padding."""
    is_sep = (ids == sep).long()
    return ((torch.cumsum(is_sep, 1) - is_sep) > 0).long() * mask


class Bert(torch.nn.Module):
    def __init__(self, cfg, sep_id):
        super().__init__()
        d, h, L = cfg["hidden_size"], cfg["intermediate_size"], torch.nn.Linear
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.dim, self.n_heads, self.sep_id = d, cfg["num_attention_heads"], sep_id
        self.word = torch.nn.Embedding(cfg["vocab_size"], d)
        self.pos = torch.nn.Embedding(cfg["max_position_embeddings"], d)
        self.types = torch.nn.Embedding(cfg.get("type_vocab_size", 2), d)
        self.ln = torch.nn.LayerNorm(d, eps=eps)
        self.layers = torch.nn.ModuleList()
        for _ in range(cfg["num_hidden_layers"]):
            m = torch.nn.Module()
            m.q, m.k, m.v, m.o = L(d, d), L(d, d), L(d, d), L(d, d)
            m.ln1, m.ln2 = torch.nn.LayerNorm(d, eps=eps), torch.nn.LayerNorm(d, eps=eps)
            m.f1, m.f2 = L(d, h), L(h, d)
            self.layers.append(m)
        self.pool, self.cls = L(d, d), L(d, len(cfg.get("id2label", {0: 0, 1: 1})))

    def forward(self, ids, mask):
        B, T = ids.shape
        H, dh = self.n_heads, self.dim // self.n_heads
        h = self.word(ids) + self.types(token_types(ids, mask, self.sep_id)) + self.pos(torch.arange(T)[None, :])
        h = self.ln(h)
        add = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
        for m in self.layers:
            sh = lambda x: x.view(B, T, H, dh).transpose(1, 2)
            q, k, v = sh(m.q(h)), sh(m.k(h)), sh(m.v(h))
            p = torch.softmax((q @ k.transpose(2, 3)) / math.sqrt(dh) + add, dim=-1)
            h1 = m.ln1(m.o((p @ v).transpose(1, 2).reshape(B, T, H * dh)) + h)
            h = m.ln2(m.f2(torch.nn.functional.gelu(m.f1(h1))) + h1)
        return self.cls(torch.tanh(self.pool(h[:, 0])))


NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
         "o": "attention.output.dense", "ln1": "attention.output.LayerNorm", "f1": "intermediate.dense",
         "f2": "output.dense", "ln2": "output.LayerNorm"}


def hf_names(model):
    out = {"word.weight": "bert.embeddings.word_embeddings.weight",
           "pos.weight": "bert.embeddings.position_embeddings.weight",
           "types.weight": "bert.embeddings.token_type_embeddings.weight",
           "ln.weight": "bert.embeddings.LayerNorm.weight", "ln.bias": "bert.embeddings.LayerNorm.bias",
           "pool.weight": "bert.pooler.dense.weight", "pool.bias": "bert.pooler.dense.bias",
           "cls.weight": "classifier.weight", "cls.bias": "classifier.bias"}
    for i in range(len(model.layers)):
        for s, hf in NAMES.items():
            for wb in ("weight", "bias"):
                out[f"layers.{i}.{s}.{wb}"] = f"bert.encoder.layer.{i}.{hf}.{wb}"
    return out


def sep_id(d):
    """[SEP]'s id in the vocabulary glueq reads for d: its vocab.txt, else shared/assets/vocab."""
    vocab = os.path.join(d, "vocab.txt")
    if not os.path.exists(vocab):
        vocab = os.path.join(SHARED, "assets", "vocab", "vocab.txt")
    with open(vocab, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.rstrip("\n") == "[SEP]":
                return i
    sys.exit(f"peers_bert.py: {vocab}: no [SEP] token")


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg.get("model_type") != "bert":
        sys.exit(f"peers_bert.py: {d}/config.json: model_type {cfg.get('model_type')!r}, not 'bert'")
    m = Bert(cfg, sep_id(d))
    sd = peers.read_safetensors(os.path.join(d, "model.safetensors"))
    m.load_state_dict({ours: sd[hf] for ours, hf in hf_names(m).items()})
    return m.eval(), cfg


def check(d):
    m, _ = load(d)
    ex = peers.read_safetensors(os.path.join(d, "expected.safetensors"))
    lens, seg_a = ex["lens"].long().tolist(), ex["seg_a"].long().tolist()
    ids, want = ex["ids"].long(), ex["logits"]
    rows = [ids[sum(lens[:i]):sum(lens[:i + 1])] for i in range(len(lens))]
    pad = torch.zeros(len(rows), max(lens), dtype=torch.long)
    mask = torch.zeros_like(pad)
    for i, r in enumerate(rows):
        pad[i, :len(r)], mask[i, :len(r)] = r, 1
    with torch.no_grad():
        one = torch.cat([m(r[None, :], torch.ones(1, len(r), dtype=torch.long)) for r in rows])
        batch = m(pad, mask)
    types = token_types(pad, mask, m.sep_id)
    seg_ok = all(bool((types[i, :seg_a[i]] == 0).all() and (types[i, seg_a[i]:lens[i]] == 1).all())
                 for i in range(len(rows)))
    r = {"fixture": d, "sequences": len(rows), "max_abs_one_at_a_time": (one - want).abs().max().item(),
         "max_abs_padded_batch": (batch - want).abs().max().item(),
         "max_abs_vs_fp64": (one.double() - ex["logits_fp64"]).abs().max().item(), "token_types_match": seg_ok,
         "atol": LOGIT_ATOL}
    print(json.dumps(r), flush=True)
    return 0 if seg_ok and max(r["max_abs_one_at_a_time"], r["max_abs_padded_batch"]) <= LOGIT_ATOL else 1


def main():
    a = sys.argv[1:]
    if a[:1] == ["check"] and len(a) == 2:
        sys.exit(check(a[1]))
    if a[:1] != ["run"] or len(a) < 3:
        sys.exit(__doc__)
    peers.load = load  # peers.py's run, with this model in place of its DistilBERT
    peers.main()


if __name__ == "__main__":
    main()
