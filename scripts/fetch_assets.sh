#!/usr/bin/env bash
# Downloads what glueq evaluates, from its public homes, into ASSETS_DIR (default
# $GLUEQ_ASSETS, else ./assets), in the layout glueq searches:
#   scripts/fetch_assets.sh [ASSETS_DIR [PART...]]
#     PART: cola sst2 mrpc stsb qqp mnli qnli rte wnli (the GLUE tasks), glue (all nine),
#           vocab, models; default: everything
#   glue/{CoLA,SST-2,MRPC,STS-B,QQP,MNLI,QNLI,RTE,WNLI}/*.tsv  GLUE (the GLUE benchmark's
#                                download locations, as its download script lays them out)
#   vocab/vocab.txt              distilbert-base-uncased WordPiece vocab (Hugging Face)
#   models/distilbert-base-uncased-{CoLA,SST-2,MRPC,STS-B,QQP,MNLI,QNLI,RTE,WNLI}/
#                                the textattack checkpoints of every task (Hugging Face)
# Then: export GLUEQ_ASSETS=ASSETS_DIR. Needs curl, unzip, sha256sum, awk.
#
# Every file is downloaded to a temporary name beside its destination and moved into
# place only once it is complete and, where its sha256 is known (the MRPC, RTE and QNLI
# files glueq's references were made from, and the vocab; the Hub publishes no fixed hash
# for the checkpoints' revisions, and results record the sha256 of every file they read),
# has that sha256: an interrupted, failed or corrupt download leaves no file behind. Files
# already present (and correct, where the hash is known) are skipped, so a failed run can
# simply be run again. Base URLs can be overridden (mirrors, tests): GLUEQ_GLUE_URL,
# GLUEQ_SENTEVAL_URL, GLUEQ_MRPC_IDS_URL, GLUEQ_HF_URL.
set -euo pipefail
DEST="${1:-${GLUEQ_ASSETS:-./assets}}"
[ $# -gt 0 ] && shift
GLUE_PARTS=(cola sst2 mrpc stsb qqp mnli qnli rte wnli)
WHAT=()
for what in "$@"; do
  case $what in
    glue) WHAT+=("${GLUE_PARTS[@]}") ;;
    cola | sst2 | mrpc | stsb | qqp | mnli | qnli | rte | wnli | vocab | models) WHAT+=("$what") ;;
    *) echo "fetch_assets.sh: unknown part '$what' (parts: ${GLUE_PARTS[*]} glue vocab models)" >&2; exit 2 ;;
  esac
done
[ ${#WHAT[@]} -gt 0 ] || WHAT=("${GLUE_PARTS[@]}" vocab models)
GLUE=${GLUEQ_GLUE_URL:-https://dl.fbaipublicfiles.com/glue/data}
SENTEVAL=${GLUEQ_SENTEVAL_URL:-https://dl.fbaipublicfiles.com/senteval/senteval_data}
MRPC_IDS=${GLUEQ_MRPC_IDS_URL:-"https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/data%2Fmrpc_dev_ids.tsv?alt=media&token=ec5c0836-31d5-48f4-b431-7480817f1adc"}
HF=${GLUEQ_HF_URL:-https://huggingface.co}

# The sha256 of the files glueq's references were made from (../shared/assets/README.md).
declare -A SHA256=(
  [glue/MRPC/train.tsv]=122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d
  [glue/MRPC/dev.tsv]=81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7
  [glue/RTE/train.tsv]=41e3a9b063433392343fad9e962cf2f58b681c78d8f71592f4186f0837246c5c
  [glue/RTE/dev.tsv]=80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb
  [glue/QNLI/train.tsv]=3bb7026735a0d4cd439dc1ca6ea162e0c1cc8f962f52df9cc50ee8f8278e0c0e
  [glue/QNLI/dev.tsv]=763e95932dd3578251de71582e06829015f9c3815a518c751dc537219b159de4
  [glue/QNLI/test.tsv]=6d856264e292fa7a7bc7b8e182efa1454ffd9532733c12ad813017dd5b377a5a
  [vocab/vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
)

die() { echo "fetch_assets.sh: $*" >&2; exit 1; }
sha_of() { sha256sum "$1" | awk '{ print $1 }'; }

# Is DEST/rel present and, if its hash is known, correct?
present() {
  local f="$DEST/$1"
  [ -s "$f" ] || return 1
  [ -z "${SHA256[$1]:-}" ] || [ "$(sha_of "$f")" = "${SHA256[$1]}" ]
}

# Fails (removing TMP) unless TMP has rel's known sha256.
check_sha() { # TMP REL SOURCE
  local want=${SHA256[$2]:-} got
  [ -n "$want" ] || return 0
  got=$(sha_of "$1")
  if [ "$got" != "$want" ]; then
    rm -f "$1"
    die "$DEST/$2: sha256 mismatch (got $got, want $want) from $3; nothing was written"
  fi
}

# Checks a finished temporary file and moves it to DEST/rel.
install_file() { # TMP REL SOURCE
  check_sha "$@"
  mkdir -p "$(dirname "$DEST/$2")"
  mv -f "$1" "$DEST/$2"
}

# Downloads URL to a new temporary file in WORK and prints its path; fails with curl's
# reason on any HTTP or network error.
download() { # URL
  local tmp msg
  tmp=$(mktemp "$WORK/download.XXXXXX")
  echo "fetching $1" >&2
  if ! msg=$(curl -fsSL --retry 3 -o "$tmp" "$1" 2>&1); then
    rm -f "$tmp"
    die "download failed: $1: ${msg:-curl error}"
  fi
  echo "$tmp"
}

fetch_file() { # URL REL
  if present "$2"; then echo "present: $2" >&2; return; fi
  local tmp
  tmp=$(download "$1")
  install_file "$tmp" "$2" "$1"
}

# A GLUE zip: unpacked in a temporary directory; the files glueq uses are all checked
# before any is moved into place.
fetch_glue_zip() { # ZIP TASK FILE...
  local zip=$1 task=$2
  shift 2
  local missing=() f
  for f in "$@"; do present "glue/$task/$f" || missing+=("$f"); done
  if [ ${#missing[@]} -eq 0 ]; then echo "present: glue/$task" >&2; return; fi
  local work z
  work=$(mktemp -d "$WORK/unzip.XXXXXX")
  z=$(download "$GLUE/$zip")
  unzip -qo "$z" -d "$work" >/dev/null 2>&1 || die "$GLUE/$zip: not a valid zip archive; nothing was written"
  for f in "${missing[@]}"; do
    [ -f "$work/$task/$f" ] || die "$GLUE/$zip: has no $task/$f; nothing was written"
    check_sha "$work/$task/$f" "glue/$task/$f" "$GLUE/$zip"
  done
  for f in "${missing[@]}"; do install_file "$work/$task/$f" "glue/$task/$f" "$GLUE/$zip"; done
}

# MRPC as the GLUE script builds it: the MSR corpus split by GLUE's list of dev pairs.
fetch_mrpc() {
  if present glue/MRPC/train.tsv && present glue/MRPC/dev.tsv; then echo "present: glue/MRPC" >&2; return; fi
  local work msr ids
  work=$(mktemp -d "$WORK/mrpc.XXXXXX")
  msr=$(download "$SENTEVAL/msr_paraphrase_train.txt")
  ids=$(download "$MRPC_IDS")
  tr -d '\r' <"$msr" | awk -F'\t' -v ids="$ids" -v train="$work/train.tsv" -v dev="$work/dev.tsv" '
    BEGIN { while ((getline l < ids) > 0) { sub(/\r$/, "", l); split(l, p, "\t"); d[p[1] "\t" p[2]] = 1 } }
    NR == 1 { print > train; print > dev; next }
    { print > ((($2 "\t" $3) in d) ? dev : train) }'
  install_file "$work/train.tsv" glue/MRPC/train.tsv "$SENTEVAL/msr_paraphrase_train.txt"
  install_file "$work/dev.tsv" glue/MRPC/dev.tsv "$SENTEVAL/msr_paraphrase_train.txt and $MRPC_IDS"
}

# The textattack checkpoints, named after GLUE's spelling of each task.
fetch_models() {
  local t f
  for t in CoLA SST-2 MRPC STS-B QQP MNLI QNLI RTE WNLI; do
    for f in config.json pytorch_model.bin vocab.txt; do
      fetch_file "$HF/textattack/distilbert-base-uncased-$t/resolve/main/$f" "models/distilbert-base-uncased-$t/$f"
    done
  done
}

mkdir -p "$DEST"
# Temporary files live here, on DEST's file system (so that moving them into place is a
# rename), and go when the script ends, however it ends.
WORK=$(mktemp -d "$DEST/.fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
for what in "${WHAT[@]}"; do
  case $what in
    cola) fetch_glue_zip CoLA.zip CoLA train.tsv dev.tsv ;;
    sst2) fetch_glue_zip SST-2.zip SST-2 train.tsv dev.tsv ;;
    mrpc) fetch_mrpc ;;
    stsb) fetch_glue_zip STS-B.zip STS-B train.tsv dev.tsv ;;
    qqp) fetch_glue_zip QQP-clean.zip QQP train.tsv dev.tsv ;;
    mnli) fetch_glue_zip MNLI.zip MNLI train.tsv dev_matched.tsv dev_mismatched.tsv ;;
    qnli) fetch_glue_zip QNLIv2.zip QNLI train.tsv dev.tsv test.tsv ;;
    rte) fetch_glue_zip RTE.zip RTE train.tsv dev.tsv ;;
    wnli) fetch_glue_zip WNLI.zip WNLI train.tsv dev.tsv ;;
    vocab) fetch_file "$HF/distilbert-base-uncased/resolve/main/vocab.txt" vocab/vocab.txt ;;
    models) fetch_models ;;
  esac
done
echo "done: export GLUEQ_ASSETS=$(cd "$DEST" && pwd)" >&2
