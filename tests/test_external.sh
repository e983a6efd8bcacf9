#!/usr/bin/env bash
# Method `external`: examples/saliency_numpy.py writes |W| of tiny-a's quantized matrices,
# and a sweep of `magnitude` and `external` over bits x budgets gives identical results
# (accuracy, fidelity, protected counts, effective bits, every prediction and logit); the
# rows record the scores file's sha256. A scores file with a missing, extra, misshaped,
# non-finite or integer tensor, or none at all, is one error line naming the file and the
# tensor. Uses the real safetensors package when installed, else tests/shim (Debian 12
# has none).   test_external.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$1 glueq=$2 src=$4
python=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then python=$p; break; fi
done
[ -n "$python" ] || { echo "SKIP: no python3 with numpy (apt-get install python3-numpy; scripts/setup.sh does)"; exit 77; }
export PYTHONDONTWRITEBYTECODE=1 # nothing written into the source tree
"$python" -c 'import safetensors.numpy' 2>/dev/null || export PYTHONPATH="$src/tests/shim${PYTHONPATH:+:$PYTHONPATH}"
tmp=$(mktemp -d /tmp/gq_external_XXXXXX)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
model="$shared/fixtures/tiny-a"
export GLUEQ_CACHE_DIR="$tmp/cache"

"$python" "$src/examples/saliency_numpy.py" "$model" "$tmp/abs.safetensors" --heuristic magnitude
"$python" "$src/examples/saliency_numpy.py" "$model" "$tmp/colnorm.safetensors"

# ---- |W| through `external` == `magnitude`, point by point ----
cat >"$tmp/sweep.json" <<JSON
{"name": "external-vs-magnitude", "data": "$shared/assets/glue", "vocab": "$shared/assets/vocab/vocab.txt",
 "models": {"rte": "$model"}, "tasks": ["rte"], "methods": ["magnitude", "external"],
 "method_options": {"external": {"scores": "\${GQ_TEST_SCORES}"}},
 "bits": [3, 4], "budgets": {"k": [4, 64, 1024]}, "limit": 40, "threads": 1, "output": "$tmp/out"}
JSON
GQ_TEST_SCORES="$tmp/abs.safetensors" "$glueq" sweep "$tmp/sweep.json" >/dev/null 2>"$tmp/sweep.err" ||
  fail "sweep failed: $(cat "$tmp/sweep.err")"
sha=$(sha256sum "$tmp/abs.safetensors" | cut -d' ' -f1)
"$python" - "$tmp/out" "$tmp/abs.safetensors" "$sha" <<'PY' || fail "external != magnitude (above)"
import csv, json, sys
out, path, sha = sys.argv[1:]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
preds = {}
for line in open(f"{out}/predictions.jsonl"):
    p = json.loads(line)
    preds[p["point_id"]] = (p["preds"], p["logits"])
same = ["correct", "total", "accuracy", "flips", "agreement", "kl", "protected", "effective_bits"]
by = {(r["method"], r["bits"], r["k"]): r for r in rows}
pairs = [(k, by[("external",) + k[1:]]) for k in by if k[0] == "magnitude"]
bad = 0
if len(pairs) != 6:
    print(f"want 6 magnitude/external pairs, got {len(pairs)}: {sorted(by)}"); bad += 1
for key, ext in pairs:
    mag = by[key]
    for c in same:
        if mag[c] != ext[c]:
            print(f"bits {key[1]} k {key[2]}: {c}: magnitude {mag[c]}, external {ext[c]}"); bad += 1
    if preds[mag["point_id"]] != preds[ext["point_id"]]:
        print(f"bits {key[1]} k {key[2]}: predictions or logits differ"); bad += 1
    if ext["method_options"] != f"scores={path},scores_sha256={sha}":
        print(f"external row records method_options {ext['method_options']!r}"); bad += 1
sys.exit(1 if bad else 0)
PY

# ---- the regression check of docs/adding-a-method.md: compare each external point with its magnitude twin ----
for k in 4 64 1024; do
  mag=$(awk -F, -v k=$k '$4 == "magnitude" && $5 == 4 && $6 == k { print $1 }' "$tmp/out/results.csv")
  ext=$(awk -F, -v k=$k '$4 == "external" && $5 == 4 && $6 == k { print $1 }' "$tmp/out/results.csv")
  "$glueq" compare "$tmp/out#$mag" "$tmp/out#$ext" --fail-if-worse 1.0 >"$tmp/compare.txt" 2>&1 ||
    fail "compare --fail-if-worse of identical points exits $?: $(cat "$tmp/compare.txt")"
  grep -q '+0.00 \[+0.00, +0.00\] *1$' "$tmp/compare.txt" || fail "compare of identical points: $(cat "$tmp/compare.txt")"
done

# ---- glueq overlap: the protected sets of magnitude and |W| scores are the same; --scores
# goes to the method that takes it ----
"$glueq" overlap --model "$model" --task rte --methods magnitude,external --scores "$tmp/abs.safetensors" --k 64 \
  >"$tmp/overlap.txt" 2>&1 || fail "overlap magnitude,external: $(cat "$tmp/overlap.txt")"
grep -Eq '^total +1\.0000 +1\.0000$' "$tmp/overlap.txt" || fail "overlap of magnitude and |W| scores: $(tail -2 "$tmp/overlap.txt")"

# ---- the point ids follow the file's content ----
GQ_TEST_SCORES="$tmp/colnorm.safetensors" "$glueq" sweep "$tmp/sweep.json" --out "$tmp/out2" >/dev/null 2>"$tmp/sweep.err" ||
  fail "sweep with colnorm scores failed: $(cat "$tmp/sweep.err")"
ids() { awk -F, -v m="$2" 'NR > 1 && $4 == m { print $1 }' "$1/results.csv" | sort; }
[ -n "$(ids "$tmp/out2" external)" ] && [ -z "$(comm -12 <(ids "$tmp/out" external) <(ids "$tmp/out2" external))" ] ||
  fail "external points have the same ids with different scores files"
[ "$(ids "$tmp/out" magnitude)" = "$(ids "$tmp/out2" magnitude)" ] || fail "magnitude point ids changed with the scores file"

# ---- bad scores files: one line naming the file and the tensor ----
"$python" - "$tmp" <<'PY'
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
good = load_file(f"{d}/abs.safetensors")
q = "distilbert.transformer.layer.1.attention.q_lin.weight"
def variant(name, change):
    t = dict(good)
    change(t)
    save_file(t, f"{d}/{name}.safetensors")
variant("missing", lambda t: t.pop(q))
variant("extra", lambda t: t.update({"classifier.weight": np.ones((2, 4), np.float32)}))
variant("shape", lambda t: t.update({q: t[q][:, :-1].copy()}))
def nan(t):
    t[q] = t[q].copy(); t[q][2, 3] = np.nan
variant("nan", nan)
variant("int", lambda t: t.update({q: t[q].astype(np.int64)}))
variant("f16", lambda t: t.update({k: v.astype(np.float16) for k, v in t.items()}))
PY
expect_error() { # RC FILE NEEDLE...
  local want=$1 f=$2 out err rc=0
  shift 2
  out=$("$glueq" eval --quiet --model "$model" --task rte --limit 8 --method external --k 4 ${f:+--scores "$f"} 2>"$tmp/err") || rc=$?
  err=$(cat "$tmp/err")
  [ $rc = "$want" ] && [ "$(wc -l <"$tmp/err")" = 1 ] || fail "${f:-no --scores}: want exit $want and one line, got $rc: $err"
  for n in "$@"; do grep -qF -- "$n" <<<"$err" || fail "${f:-no --scores}: '$n' not in: $err"; done
}
Q=distilbert.transformer.layer.1.attention.q_lin.weight
expect_error 1 "$tmp/missing.safetensors" "glueq: $tmp/missing.safetensors: no tensor '$Q'"
expect_error 1 "$tmp/extra.safetensors" "$tmp/extra.safetensors: unexpected tensor 'classifier.weight'"
expect_error 1 "$tmp/shape.safetensors" "$tmp/shape.safetensors: tensor '$Q' has shape [64,63], the weight is [64,64]"
expect_error 1 "$tmp/nan.safetensors" "$tmp/nan.safetensors: tensor '$Q' has a non-finite score (nan) at [2,3]"
expect_error 1 "$tmp/int.safetensors" "$tmp/int.safetensors: scores must be F32, F16 or BF16" "I64"
expect_error 1 "$tmp/absent.safetensors" "$tmp/absent.safetensors"
expect_error 2 "" "option 'scores' is required"
"$glueq" eval --quiet --model "$model" --task rte --limit 8 --method external --k 4 --scores "$tmp/f16.safetensors" >/dev/null ||
  fail "F16 scores are refused"
"$glueq" eval --quiet --model "$model" --task rte --limit 8 --method magnitude --k 4 --scores "$tmp/abs.safetensors" \
  >/dev/null 2>&1 && fail "--scores is accepted by a method without a scores option"

if [ $failures -eq 0 ]; then rm -rf "$tmp"; echo "test_external: all checks passed"; else echo "outputs kept in $tmp" >&2; exit 1; fi
