#!/usr/bin/env bash
# Installs the Debian packages glueq builds with, when any is missing (needs root or sudo).
set -euo pipefail
PKGS=(build-essential cmake pkg-config libopenblas-dev liblapacke-dev libutf8proc-dev libcjson-dev libcsv-dev
      groff-base curl zip unzip python3 python3-numpy python3-pytest python3-setuptools python3-pip
      python3-nbclient python3-ipykernel python3-matplotlib # test_python runs examples/saliency.ipynb
      python3-sklearn python3-scipy # test_metrics_sklearn, test_glue_cli: the metrics against theirs
      parallel slurm-wlm munge
      clang libclang-rt-dev) # fuzz/run.sh: clang's libFuzzer runtime (python3 builds its seeds)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "glueq: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
