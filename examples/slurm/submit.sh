#!/bin/bash
# Runs a glueq sweep on a Slurm cluster: a job array of N shards (sweep.sbatch) and a
# merge job (merge.sbatch) that starts when all of them have succeeded.
#   examples/slurm/submit.sh CONFIG OUT [N]      (N = 8 shards by default)
# Prints the two job ids ("ARRAY MERGE"); results land in OUT (slurm-*.out logs too).
# Extra sbatch options through the environment (SBATCH_PARTITION, SBATCH_TIMELIMIT, ...);
# the binary through $GLUEQ (exported to the jobs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
config=${1:?usage: submit.sh CONFIG OUT [N]}
out=${2:?usage: submit.sh CONFIG OUT [N]}
n=${3:-8}
mkdir -p "$out"
array=$(sbatch --parsable --array="0-$((n - 1))" --output="$out/slurm-%A_%a.out" \
  "$here/sweep.sbatch" "$config" "$out")
array=${array%%;*} # --parsable prints JOBID[;CLUSTER]
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --output="$out/slurm-%j-merge.out" "$here/merge.sbatch" "$out" "$n")
echo "$array ${merge%%;*}"
