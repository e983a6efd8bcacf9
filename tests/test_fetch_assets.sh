#!/usr/bin/env bash
# scripts/fetch_assets.sh end to end against a local HTTP server (python3 -m http.server on
# 127.0.0.1, a free port) that serves the shared assets (and, for the GLUE tasks that are
# not in them, the fixture files tests/fixtures/glue) in the URL layout of the real download
# sites: every file lands in the documented layout with its published sha256 (MRPC rebuilt
# from the MSR corpus and GLUE's dev ids), a second run skips what is there,
# and a corrupt download or a 404 fails with a message naming the file and leaves no
# file (complete or partial) behind. Only loopback traffic.
#   test_fetch_assets.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$1 src=$4
assets="$shared/assets"
python=$(command -v python3)
tmp=$(mktemp -d /tmp/gq_fetch_XXXXXX)
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
server_pid=
finish() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  if [ $failures -eq 0 ]; then rm -rf "$tmp"; else echo "outputs kept in $tmp" >&2; fi
}
trap finish EXIT

# ---- the fixture site ----
srv="$tmp/srv"
mkdir -p "$srv/glue" "$srv/senteval" "$srv/mrpc"
(cd "$assets/glue" && zip -q -X "$srv/glue/RTE.zip" RTE/train.tsv RTE/dev.tsv)
# The other tasks' archives, named and laid out as GLUE's (QQP's archive is QQP-clean.zip),
# from the fixture files.
fixtures="$src/tests/fixtures/glue"
for z in CoLA:CoLA SST-2:SST-2 STS-B:STS-B QQP-clean:QQP WNLI:WNLI; do
  (cd "$fixtures" && zip -q -X "$srv/glue/${z%%:*}.zip" "${z#*:}/train.tsv" "${z#*:}/dev.tsv")
done
(cd "$fixtures" && zip -q -X "$srv/glue/MNLI.zip" MNLI/train.tsv MNLI/dev_matched.tsv MNLI/dev_mismatched.tsv)
# QNLI's train split is not in the shared assets: the test archive has a stand-in whose
# published sha256 does not match, and the run is told to expect exactly that failure.
mkdir -p "$tmp/qnli/QNLI"
cp "$assets/glue/QNLI/dev.tsv" "$assets/glue/QNLI/test.tsv" "$tmp/qnli/QNLI/"
head -3 "$assets/glue/QNLI/dev.tsv" >"$tmp/qnli/QNLI/train.tsv"
(cd "$tmp/qnli" && zip -q -X "$srv/glue/QNLIv2.zip" QNLI/train.tsv QNLI/dev.tsv QNLI/test.tsv)
# The MSR corpus (CRLF) = header + GLUE's train rows + dev rows; any interleaving keeps
# both splits' orders, which is all the split depends on. The dev ids are the dev pairs.
{ cat "$assets/glue/MRPC/train.tsv"; tail -n +2 "$assets/glue/MRPC/dev.tsv"; } | sed 's/$/\r/' \
  >"$srv/senteval/msr_paraphrase_train.txt"
tail -n +2 "$assets/glue/MRPC/dev.tsv" | awk -F'\t' '{ printf "%s\t%s\r\n", $2, $3 }' >"$srv/mrpc/dev_ids.tsv"
mkdir -p "$srv/hf/distilbert-base-uncased/resolve/main"
cp "$assets/vocab/vocab.txt" "$srv/hf/distilbert-base-uncased/resolve/main/"
MODELS="CoLA SST-2 MRPC STS-B QQP MNLI QNLI RTE WNLI"
for t in $MODELS; do
  d="$srv/hf/textattack/distilbert-base-uncased-$t/resolve/main"
  mkdir -p "$d"
  cp "$shared/fixtures/tiny-a/config.json" "$shared/fixtures/tiny-a/pytorch_model.bin" "$assets/vocab/vocab.txt" "$d/"
done

# python3 -m http.server on a free loopback port (bound to 127.0.0.1 only).
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m http.server "$port" --bind 127.0.0.1 --directory "$srv" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/mrpc/dev_ids.tsv" 2>/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
export GLUEQ_GLUE_URL="$base/glue" GLUEQ_SENTEVAL_URL="$base/senteval" GLUEQ_MRPC_IDS_URL="$base/mrpc/dev_ids.tsv"
export GLUEQ_HF_URL="$base/hf"
fetch() { bash "$src/scripts/fetch_assets.sh" "$@"; }
no_partials() { # DIR: nothing but the documented layout (no temporary or partial files)
  local left
  left=$(find "$1" -name '.fetch*' -o -name '*.zip' -o -name 'download.*')
  [ -z "$left" ] || fail "left behind in $1: $left"
}

served_requests() { grep -c '"GET ' "$tmp/server.log" || true; }

# ---- everything but QNLI: files land in the layout with their published sha256 ----
out="$tmp/assets"
fetch "$out" rte mrpc vocab models >"$tmp/run1.log" 2>&1 || fail "run 1 failed: $(cat "$tmp/run1.log")"
for f in glue/RTE/train.tsv glue/RTE/dev.tsv glue/MRPC/train.tsv glue/MRPC/dev.tsv vocab/vocab.txt; do
  cmp -s "$assets/$f" "$out/$f" || fail "run 1: $f is not the published file"
done
for t in $MODELS; do
  for f in config.json pytorch_model.bin; do
    cmp -s "$shared/fixtures/tiny-a/$f" "$out/models/distilbert-base-uncased-$t/$f" ||
      fail "run 1: models/distilbert-base-uncased-$t/$f is not the served file"
  done
  [ -s "$out/models/distilbert-base-uncased-$t/vocab.txt" ] || fail "run 1: no models/distilbert-base-uncased-$t/vocab.txt"
done
no_partials "$out"

# ---- the other six tasks, from their GLUE archives ----
fetch "$out" cola sst2 stsb qqp mnli wnli >"$tmp/run1b.log" 2>&1 || fail "run 1b failed: $(cat "$tmp/run1b.log")"
for f in CoLA/train.tsv CoLA/dev.tsv SST-2/train.tsv SST-2/dev.tsv STS-B/train.tsv STS-B/dev.tsv QQP/train.tsv \
  QQP/dev.tsv MNLI/train.tsv MNLI/dev_matched.tsv MNLI/dev_mismatched.tsv WNLI/train.tsv WNLI/dev.tsv; do
  cmp -s "$fixtures/$f" "$out/glue/$f" || fail "run 1b: glue/$f is not the served file"
done
no_partials "$out"

# ---- a second run skips every file that is there and good, without a request ----
before=$(served_requests)
fetch "$out" cola sst2 mrpc stsb qqp mnli rte wnli vocab models >"$tmp/run2.log" 2>&1 ||
  fail "run 2 failed: $(cat "$tmp/run2.log")"
[ "$(served_requests)" = "$before" ] || fail "run 2 downloaded again: $(tail -n +$((before + 1)) "$tmp/server.log")"
# 7 task archives, MRPC, vocab, 9 x 3 model files
[ "$(grep -c '^present: ' "$tmp/run2.log")" = 36 ] || fail "run 2: want 36 'present:' lines: $(cat "$tmp/run2.log")"

# ---- a corrupt file on disk is fetched again; a corrupt download fails and writes nothing ----
echo corrupt >"$out/vocab/vocab.txt"
fetch "$out" vocab >"$tmp/run3.log" 2>&1 || fail "run 3 did not replace a corrupt vocab.txt: $(cat "$tmp/run3.log")"
cmp -s "$assets/vocab/vocab.txt" "$out/vocab/vocab.txt" || fail "run 3: vocab.txt not replaced by the good file"
rm "$out/vocab/vocab.txt"
printf '[PAD]\n' >>"$srv/hf/distilbert-base-uncased/resolve/main/vocab.txt"
if fetch "$out" vocab >"$tmp/run4.log" 2>&1; then fail "run 4 accepted a corrupt vocab.txt"; fi
grep -q "^fetch_assets.sh: $out/vocab/vocab.txt: sha256 mismatch (got [0-9a-f]*, want 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3) from $base/hf/distilbert-base-uncased/resolve/main/vocab.txt; nothing was written\$" \
  "$tmp/run4.log" || fail "run 4: no sha256 mismatch message: $(cat "$tmp/run4.log")"
[ ! -e "$out/vocab/vocab.txt" ] || fail "run 4 left vocab/vocab.txt behind"
no_partials "$out"

# ---- QNLI: the archive's train.tsv (a stand-in) fails its hash, so no QNLI file is written ----
if fetch "$out" qnli >"$tmp/run5.log" 2>&1; then fail "run 5 accepted a QNLI train.tsv with the wrong sha256"; fi
grep -q "glue/QNLI/train.tsv: sha256 mismatch .* from $base/glue/QNLIv2.zip; nothing was written" "$tmp/run5.log" ||
  fail "run 5: no sha256 mismatch message for QNLI/train.tsv: $(cat "$tmp/run5.log")"
[ ! -e "$out/glue/QNLI" ] || [ -z "$(ls -A "$out/glue/QNLI")" ] || fail "run 5 wrote into glue/QNLI: $(ls -A "$out/glue/QNLI")"
no_partials "$out"

# ---- a 404: clear message naming the URL, no file ----
out2="$tmp/assets2"
rm "$srv/hf/textattack/distilbert-base-uncased-RTE/resolve/main/pytorch_model.bin"
if fetch "$out2" models >"$tmp/run6.log" 2>&1; then fail "run 6 succeeded with a file missing on the server"; fi
grep -q "^fetch_assets.sh: download failed: $base/hf/textattack/distilbert-base-uncased-RTE/resolve/main/pytorch_model.bin: .*404" \
  "$tmp/run6.log" || fail "run 6: no 404 message naming the URL: $(cat "$tmp/run6.log")"
[ ! -e "$out2/models/distilbert-base-uncased-RTE/pytorch_model.bin" ] || fail "run 6 left pytorch_model.bin behind"
no_partials "$out2"
if fetch "$out2" nonsense >/dev/null 2>&1; then fail "an unknown part is accepted"; fi

[ $failures -eq 0 ] && echo "test_fetch_assets: all checks passed"
exit $((failures > 0))
