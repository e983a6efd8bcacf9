#!/usr/bin/env bash
# Downloads what glueq evaluates, from its public homes, into ASSETS_DIR (default
# $GLUEQ_ASSETS, else ./assets), in the layout glueq searches:
#   glue/{MRPC,RTE,QNLI}/*.tsv   GLUE (the GLUE benchmark's download locations)
#   vocab/vocab.txt              distilbert-base-uncased WordPiece vocab (Hugging Face)
#   models/distilbert-base-uncased-{MRPC,RTE,QNLI}/  the paper's textattack checkpoints (Hugging Face)
# Then: export GLUEQ_ASSETS=ASSETS_DIR. Needs curl, unzip, sha256sum, awk.
set -euo pipefail
DEST="${1:-${GLUEQ_ASSETS:-./assets}}"
HF=https://huggingface.co
GLUE=https://dl.fbaipublicfiles.com/glue/data
mkdir -p "$DEST"/{glue,vocab,models}
get() { echo "fetching $1" >&2; curl -fsSL --retry 3 -o "$2" "$1"; }

for t in RTE QNLIv2; do
  get "$GLUE/$t.zip" "$DEST/glue/$t.zip"
  unzip -qo "$DEST/glue/$t.zip" -d "$DEST/glue" && rm "$DEST/glue/$t.zip"
done
# MRPC as the GLUE script builds it: the MSR corpus split by GLUE's list of dev pairs.
mkdir -p "$DEST/glue/MRPC"
get https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt "$DEST/glue/MRPC/msr_train.txt"
get "https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/data%2Fmrpc_dev_ids.tsv?alt=media&token=ec5c0836-31d5-48f4-b431-7480817f1adc" "$DEST/glue/MRPC/dev_ids.tsv"
tr -d '\r' <"$DEST/glue/MRPC/msr_train.txt" | awk -F'\t' -v ids="$DEST/glue/MRPC/dev_ids.tsv" \
  -v train="$DEST/glue/MRPC/train.tsv" -v dev="$DEST/glue/MRPC/dev.tsv" '
  BEGIN { while ((getline l < ids) > 0) { sub(/\r$/, "", l); split(l, p, "\t"); d[p[1] "\t" p[2]] = 1 } }
  NR == 1 { print > train; print > dev; next }
  { print > ((($2 "\t" $3) in d) ? dev : train) }'
rm "$DEST/glue/MRPC/msr_train.txt" "$DEST/glue/MRPC/dev_ids.tsv"

get "$HF/distilbert-base-uncased/resolve/main/vocab.txt" "$DEST/vocab/vocab.txt"
for t in MRPC RTE QNLI; do
  d="$DEST/models/distilbert-base-uncased-$t"
  mkdir -p "$d"
  for f in config.json pytorch_model.bin vocab.txt; do
    get "$HF/textattack/distilbert-base-uncased-$t/resolve/main/$f" "$d/$f"
  done
done

# The files glueq's references were made from (see the README); a mismatch is reported, not fatal.
sha256sum -c --quiet <<SUMS || echo "warning: some GLUE files differ from the versions glueq was tested on" >&2
81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7  $DEST/glue/MRPC/dev.tsv
80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb  $DEST/glue/RTE/dev.tsv
763e95932dd3578251de71582e06829015f9c3815a518c751dc537219b159de4  $DEST/glue/QNLI/dev.tsv
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  $DEST/vocab/vocab.txt
SUMS
echo "done: export GLUEQ_ASSETS=$(cd "$DEST" && pwd)" >&2
