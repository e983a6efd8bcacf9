#!/usr/bin/env bash
# All nine GLUE tasks through the glueq commands, on the fixture files (tests/fixtures/glue)
# with the tiny models of 1, 2 and 3 labels:
#   - a sweep of every task (FP32, uniform, svd, awq with calibration rows from each task's
#     train split): every row's metrics against scikit-learn and scipy on its predictions
#     (tests/metrics_sklearn.py, to 1e-12); table.md in GLUE's order with the headline
#     table; results.csv's main_metric; predictions of the regression and of MNLI's files;
#     plot.svg on each task's metric;
#   - compare: every metric of each task, --fail-if-worse on the main metric of MCC, Pearson
#     and accuracy tasks (predictions made perfect and reversed);
#   - eval (text and JSON), quantize and overlap of single-text tasks;
#   - bad input: a model of the wrong label count, a bad --label-map, MNLI's dev files swapped.
#   test_glue_cli.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
glueq=$2 src=$4
fx="$src/tests/fixtures/glue"
models="$fx/models"
tmp=$(mktemp -d /tmp/gq_glue_cli_XXXXXX)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
finish() { if [ $failures -eq 0 ]; then rm -rf "$tmp"; else echo "outputs kept in $tmp" >&2; fi; }
trap finish EXIT
export GLUEQ_CACHE_DIR="$tmp/cache"

model_of() { case $1 in stsb) echo "$models/tiny-glue-1" ;; mnli) echo "$models/tiny-glue-3" ;; *) echo "$models/tiny-glue-2" ;; esac; }
TASKS="cola sst2 mrpc stsb qqp mnli qnli rte wnli"

# ---- the sweep ----
{
  printf '{"name": "glue-fixtures", "data": "%s", "models": {' "$fx"
  sep=""
  for t in $TASKS; do printf '%s"%s": "%s"' "$sep" "$t" "$(model_of $t)"; sep=", "; done
  # listed backwards: the reports put them in GLUE's order
  printf '}, "tasks": ["wnli", "rte", "qnli", "mnli", "qqp", "stsb", "mrpc", "sst2", "cola"],'
  printf ' "methods": ["uniform", "svd", "awq"], "bits": [4], "budgets": {"k": [4, 16]},'
  printf ' "method_options": {"svd": {"rank": 4}}, "calibration": {"n": 8}, "threads": 1, "output": "%s/sweep"}\n' "$tmp"
} >"$tmp/glue.json"
out="$tmp/sweep"
"$glueq" sweep "$tmp/glue.json" --quiet >"$tmp/sweep.log" 2>&1 || fail "sweep failed: $(cat "$tmp/sweep.log")"
/usr/bin/python3 "$src/tests/metrics_sklearn.py" sweep "$out" || fail "metrics differ from scikit-learn/scipy"

# table.md: the headline table, then the tasks in GLUE's order
head_row='| setting | CoLA (mcc) | SST-2 (accuracy) | MRPC (accuracy/f1) | STS-B (pearson/spearman) | QQP (accuracy/f1) | MNLI (m/mm) | QNLI (accuracy) | RTE (accuracy) | WNLI (accuracy) |'
grep -qxF "$head_row" "$out/table.md" || fail "table.md: no headline header '$head_row'"
order=$(grep '^## [a-z0-9]*$' "$out/table.md" | cut -c4- | tr '\n' ' ')
[ "$order" = "cola sst2 mrpc stsb qqp mnli qnli rte wnli " ] || fail "table.md sections in order '$order'"
for title in "Matthews corr. x100:" "Pearson r x100 (of predicted and gold scores):" \
  "Accuracy % on dev_mismatched (correct/total):" "Fidelity to FP32: RMS difference of the predicted scores:"; do
  grep -qF "$title" "$out/table.md" || fail "table.md lacks '$title'"
done
# results.csv: the main metric of each task's rows
col=$(head -1 "$out/results.csv" | tr ',' '\n' | grep -nx main_metric | cut -d: -f1)
tcol=$(head -1 "$out/results.csv" | tr ',' '\n' | grep -nx task | cut -d: -f1)
mains=$(tail -n +2 "$out/results.csv" | awk -F, -v c="$col" -v t="$tcol" '!seen[$t]++ { printf "%s=%s ", $t, $c }')
[ "$mains" = "wnli=accuracy rte=accuracy qnli=accuracy mnli=accuracy qqp=accuracy stsb=pearson mrpc=accuracy sst2=accuracy cola=mcc " ] ||
  fail "main metrics: $mains"
# predictions: STS-B's gold scores as written, MNLI's two files
grep -q '"task":"stsb","n_labels":1,"labels":\[0,1.764,' "$out/predictions.jsonl" || fail "predictions.jsonl: STS-B's scores"
grep -q '"task":"mnli",.*"parts":\[12,12\]}$' "$out/predictions.jsonl" || fail "predictions.jsonl: MNLI's parts"
for y in "Matthews corr. (x100)" "Pearson (x100)" "accuracy (%)"; do
  grep -qF ">$y<" "$out/plot.svg" || fail "plot.svg: no panel on '$y'"
done

# ---- compare: every metric; --fail-if-worse on the main metric ----
"$glueq" compare "$out" "$out" >"$tmp/cmp.txt" 2>&1 || fail "compare of a sweep with itself: $(cat "$tmp/cmp.txt")"
for m in "cola   mcc " "cola   accuracy " "stsb   pearson " "stsb   spearman " "mrpc   f1 " "mnli   accuracy (mm)"; do
  grep -qF "$m" "$tmp/cmp.txt" || fail "compare prints no '$m' line"
done
# A predicts every FP32 row perfectly, B the opposite (STS-B: the negated score), C as A
# but for two examples (not significantly worse: the bootstrap interval reaches 0)
fp_id() { awk -F, -v t="$1" -v c="$tcol" '$c == t && /,fp32,/ { print $1; exit }' "$out/results.csv"; }
mkdir -p "$tmp/a" "$tmp/b" "$tmp/c"
for d in a b c; do cp "$out/results.json" "$tmp/$d/"; done
/usr/bin/python3 - "$out/predictions.jsonl" "$tmp" <<'EOF'
import json, sys
src, tmp = sys.argv[1:]
with open(tmp + "/a/predictions.jsonl", "w") as fa, open(tmp + "/b/predictions.jsonl", "w") as fb, \
        open(tmp + "/c/predictions.jsonl", "w") as fc:
    for line in open(src):
        p = json.loads(line)
        k, gold = p["n_labels"], p["labels"]
        wrong = (lambda x: -x - 1) if k == 1 else (lambda x: (x + 1) % k)
        for f, preds in ((fa, gold), (fb, [wrong(x) for x in gold]), (fc, [wrong(x) if i < 2 else x for i, x in enumerate(gold)])):
            f.write(json.dumps(dict(p, preds=preds)) + "\n")
EOF
for t in cola stsb rte; do
  id=$(fp_id $t)
  rc=0
  "$glueq" compare "$tmp/a#$id" "$tmp/b#$id" --fail-if-worse 1 >"$tmp/worse.txt" 2>&1 || rc=$?
  [ $rc = 3 ] || fail "$t: compare --fail-if-worse of a reversed B: exit $rc, want 3: $(cat "$tmp/worse.txt")"
  rc=0
  "$glueq" compare "$tmp/b#$id" "$tmp/a#$id" --fail-if-worse 1 >"$tmp/better.txt" 2>&1 || rc=$?
  [ $rc = 0 ] || fail "$t: compare --fail-if-worse of a better B: exit $rc: $(cat "$tmp/better.txt")"
  rc=0
  "$glueq" compare "$tmp/a#$id" "$tmp/c#$id" --fail-if-worse 0 >"$tmp/near.txt" 2>&1 || rc=$?
  [ $rc = 0 ] || fail "$t: compare --fail-if-worse of a B worse on two examples: exit $rc: $(cat "$tmp/near.txt")"
done

# ---- eval, quantize and overlap ----
"$glueq" eval --model "$(model_of mnli)" --task mnli --data "$fx" --quiet >"$tmp/mnli.txt" 2>&1 || fail "eval mnli: $(cat "$tmp/mnli.txt")"
for l in "mnli dev_matched: accuracy " "mnli dev_mismatched: accuracy " \
  "labels: config.json's order (0=entailment, 1=neutral, 2=contradiction)"; do
  grep -qF "$l" "$tmp/mnli.txt" || fail "eval mnli prints no '$l': $(cat "$tmp/mnli.txt")"
done
"$glueq" eval --model "$(model_of stsb)" --task stsb --data "$fx" --json --quiet >"$tmp/stsb.json" 2>&1 || fail "eval stsb"
/usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["main_metric"] == "pearson" and o["label_order"] is None and o["total"] == 20, o
assert -1 <= o["pearson_ci_low"] <= o["pearson"] <= o["pearson_ci_high"] <= 1, o
assert "accuracy" not in o and "spearman" in o, o' "$tmp/stsb.json" || fail "eval --json stsb: $(cat "$tmp/stsb.json")"
"$glueq" eval --model "$(model_of cola)" --task cola --data "$fx" --quiet >"$tmp/cola.txt" 2>&1 || fail "eval cola"
grep -q "^cola dev: Matthews corr\. .* 20 examples$" "$tmp/cola.txt" || fail "eval cola: $(cat "$tmp/cola.txt")"
grep -qF "labels: the task's default order (0=0, 1=1)" "$tmp/cola.txt" || fail "eval cola: no label order"
"$glueq" quantize --model "$(model_of cola)" --task cola --data "$fx" --method awq --bits 4 --k 4 --calib-n 8 \
  --out "$tmp/cola-awq" --quiet >"$tmp/q.txt" 2>&1 || fail "quantize cola: $(cat "$tmp/q.txt")"
grep -q '"rows":[[:space:]]*"CoLA/train.tsv, first 8 rows"' "$tmp/cola-awq/quantization.json" ||
  fail "quantize cola: calibration rows: $(grep '"rows":[[:space:]]*"' "$tmp/cola-awq/quantization.json")"
"$glueq" eval --model "$tmp/cola-awq" --task cola --data "$fx" --quiet >/dev/null 2>&1 || fail "eval of the quantized cola model"
"$glueq" overlap --model "$(model_of sst2)" --task sst2 --data "$fx" --methods svd,awq --k 4 --calib-n 8 \
  >"$tmp/ov.txt" 2>"$tmp/ov.err" || fail "overlap sst2: $(cat "$tmp/ov.err")"
grep -q "^total " "$tmp/ov.txt" || fail "overlap sst2 prints no total"

# ---- bad input: one line, the right exit status ----
expect() { # RC NEEDLE ARGS...
  local want=$1 needle=$2 rc=0
  shift 2
  "$glueq" "$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
  [ $rc = "$want" ] && [ "$(wc -l <"$tmp/err.txt")" = 1 ] && grep -qF "$needle" "$tmp/err.txt" ||
    fail "glueq $*: want exit $want and one line with '$needle', got $rc: $(cat "$tmp/err.txt")"
}
expect 1 "the model has 3 labels, task cola has 2" eval --model "$models/tiny-glue-3" --task cola --data "$fx"
expect 1 "task stsb is a regression" eval --model "$models/tiny-glue-2" --task stsb --data "$fx"
expect 2 "'maybe' is not a label of task rte" eval --model "$models/tiny-glue-2" --task rte --data "$fx" --label-map maybe=0
mkdir -p "$tmp/swapped/MNLI"
cp "$fx/MNLI/dev_mismatched.tsv" "$tmp/swapped/MNLI/dev_matched.tsv"
cp "$fx/MNLI/dev_matched.tsv" "$tmp/swapped/MNLI/dev_mismatched.tsv"
expect 1 "$tmp/swapped/MNLI/dev_matched.tsv: line 2: genre '" eval --model "$models/tiny-glue-3" --task mnli --data "$tmp/swapped"

[ $failures -eq 0 ] && echo "test_glue_cli: all checks passed"
exit $((failures > 0))
