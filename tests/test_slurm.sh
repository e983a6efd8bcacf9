#!/usr/bin/env bash
# Sharded sweeps on real schedulers give the straight run's results: configs/smoke.json
# (with the tiny-a and tiny-b fixtures standing in for its scratch models, through the
# config's own GLUEQ_MODEL_* variables, to keep this test near 30 s) run
#   1. straight (glueq sweep),
#   2. as 3 shards by the GNU parallel one-liner of docs/sweeps.md, then merged,
#   3. as a 3-task Slurm job array + merge job (examples/slurm/submit.sh) on a one-node
#      cluster started here on localhost (munged, slurmctld, slurmd; config, state, logs
#      and sockets in a temporary directory; proctrack/linuxproc, task/none, no cgroups),
# and results.csv must be equal (the seconds column aside). Parts whose tools are missing
# are skipped with the reason (exit 77 when Slurm could not be tried); the daemons
# started here are stopped by their pid.   test_slurm.sh SHARED GLUEQ BUILD_DIR SOURCE_DIR
set -euo pipefail
shared=$(realpath "$1") src=$(realpath "$4")
GLUEQ=$(realpath "$2")
export GLUEQ GLUEQ_ASSETS="$shared/assets" GLUEQ_MODEL_RTE="$shared/fixtures/tiny-a"
export GLUEQ_MODEL_MRPC="$shared/fixtures/tiny-b"
config="$src/configs/smoke.json"
SHARDS=3
CLUSTER_START_S=30 JOBS_S=120 # bounds on waiting for the cluster and for the jobs
tmp=$(mktemp -d /tmp/gq_slurm_XXXXXX)
export GLUEQ_CACHE_DIR="$tmp/cache"
failures=0 skipped=
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
skip() { echo "SKIP: $*"; skipped="$skipped$*; "; }
# The daemons started here, remembered by pid as soon as each has written its pid file
# (so that they are stopped even if the temporary directory goes); stopped at exit
# (scontrol shutdown, then SIGTERM, then SIGKILL after 10 s) and waited for.
daemon_pids=()
remember() { # PIDFILE
  local t
  for ((t = 0; t < 50; t++)); do
    [ -s "$1" ] && { daemon_pids+=("$(cat "$1")"); return 0; }
    sleep 0.1
  done
  return 1
}
stop_daemons() {
  local t
  [ ${#daemon_pids[@]} -gt 0 ] || return 0
  [ -f "${SLURM_CONF:-}" ] && timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  kill "${daemon_pids[@]}" 2>/dev/null || true
  for ((t = 0; t < 20; t++)); do
    kill -0 "${daemon_pids[@]}" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -9 "${daemon_pids[@]}" 2>/dev/null || true
}
finish() {
  stop_daemons
  if [ $failures -eq 0 ]; then rm -rf "$tmp"; else echo "outputs kept in $tmp" >&2; fi
}
trap finish EXIT

# results.csv without the timing column, for comparing runs.
csv_sans_time() {
  python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
drop = rows[0].index("seconds")
for r in rows: print(",".join(v for i, v in enumerate(r) if i != drop))' "$1/results.csv"
}
same_results() { # DIR WHAT
  if [ ! -f "$1/results.csv" ]; then fail "$2: no results.csv in $1"; return; fi
  diff <(csv_sans_time "$tmp/straight") <(csv_sans_time "$1") >"$tmp/diff.txt" ||
    fail "$2: results.csv differs from the straight run's: $(head -20 "$tmp/diff.txt")"
}

"$GLUEQ" sweep "$config" --out "$tmp/straight" 2>"$tmp/straight.log" || fail "straight run: $(tail -3 "$tmp/straight.log")"
points=$(($(wc -l <"$tmp/straight/results.csv") - 1))
[ "$points" -ge $SHARDS ] || fail "the straight run has only $points points"

# ---- GNU parallel: the one-liner of docs/sweeps.md (N=3, out=$tmp/par) ----
if command -v parallel >/dev/null; then
  (cd "$tmp" && N=$SHARDS out=par && parallel --halt now,fail=1 "$GLUEQ" sweep "$config" --out "$out/shard-{}" --shard {}/$N ::: $(seq 0 $((N - 1))) 2>"$tmp/par.log" &&
    "$GLUEQ" merge "$out" $(seq -f "$out/shard-%g" 0 $((N - 1))) 2>>"$tmp/par.log") || fail "GNU parallel: $(tail -3 "$tmp/par.log")"
  same_results "$tmp/par" "GNU parallel, $SHARDS shards"
else
  skip "GNU parallel is not installed (apt-get install parallel)"
fi

# ---- Slurm ----
start_cluster() {
  local missing=() b
  for b in munged slurmctld slurmd sbatch squeue scontrol; do command -v $b >/dev/null || missing+=($b); done
  [ ${#missing[@]} -eq 0 ] || { skip "Slurm: ${missing[*]} not installed (apt-get install slurm-wlm munge)"; return 1; }
  [ "$(id -u)" -eq 0 ] || { skip "Slurm: slurmd must run as root to start jobs (this test runs as $(id -un))"; return 1; }
  mkdir -p "$tmp/run" "$tmp/state" "$tmp/spool" "$tmp/munge"
  chmod 755 "$tmp" "$tmp/munge"
  head -c 1024 /dev/urandom >"$tmp/munge/munge.key" && chmod 400 "$tmp/munge/munge.key"
  munged -f --socket="$tmp/munge/sock" --key-file="$tmp/munge/munge.key" --log-file="$tmp/munge/munged.log" \
    --pid-file="$tmp/run/munged.pid" --seed-file="$tmp/munge/seed" 2>"$tmp/munge/start.log" ||
    { skip "Slurm: munged does not start: $(cat "$tmp/munge/start.log" "$tmp/munge/munged.log" 2>/dev/null | tail -3)"; return 1; }
  remember "$tmp/run/munged.pid" || { skip "Slurm: munged wrote no pid file"; return 1; }
  local ports cpus
  ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
  cpus=$(nproc)
  [ "$cpus" -ge 2 ] || cpus=2 # sweep.sbatch asks for 2 CPUs per task; config_overrides accepts it
  export SLURM_CONF="$tmp/slurm.conf"
  cat >"$SLURM_CONF" <<CONF
ClusterName=glueqtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${ports% *}
SlurmdPort=${ports#* }
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MinJobAge=600
NodeName=gqnode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=gqtest Nodes=gqnode Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -i 2>"$tmp/slurmctld.start" || { skip "Slurm: slurmctld does not start: $(tail -3 "$tmp/slurmctld.start" "$tmp/slurmctld.log")"; return 1; }
  remember "$tmp/run/slurmctld.pid" || { skip "Slurm: slurmctld wrote no pid file: $(tail -3 "$tmp/slurmctld.log")"; return 1; }
  slurmd -N gqnode 2>"$tmp/slurmd.start" || { skip "Slurm: slurmd does not start: $(tail -3 "$tmp/slurmd.start" "$tmp/slurmd.log")"; return 1; }
  remember "$tmp/run/slurmd.pid" || { skip "Slurm: slurmd wrote no pid file: $(tail -3 "$tmp/slurmd.log")"; return 1; }
  local t
  for ((t = 0; t < CLUSTER_START_S * 2; t++)); do
    [ "$(sinfo -h -n gqnode -o %t 2>/dev/null)" = idle ] && return 0
    sleep 0.5
  done
  skip "Slurm: node gqnode not idle after ${CLUSTER_START_S}s ($(sinfo -h -n gqnode -o '%t %E' 2>&1)): $(tail -3 "$tmp/slurmd.log" "$tmp/slurmctld.log" 2>&1)"
  return 1
}

if start_cluster; then
  ids=$(cd "$tmp" && "$src/examples/slurm/submit.sh" "$config" "$tmp/slurm" $SHARDS) || fail "submit.sh failed"
  array=${ids% *} merge=${ids#* }
  state=
  for ((t = 0; t < JOBS_S * 2; t++)); do
    state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 0.5
  done
  if [ "$state" = COMPLETED ]; then
    tasks=$(scontrol show job "$array" | grep -c 'JobState=COMPLETED')
    [ "$tasks" = $SHARDS ] || fail "Slurm: want $SHARDS completed array tasks, got $tasks"
    same_results "$tmp/slurm" "Slurm job array, $SHARDS shards + merge job"
  else
    fail "Slurm: merge job $merge ended $state (array $array) or not within ${JOBS_S}s: $(squeue 2>&1 | tail -5) $(tail -5 "$tmp"/slurm/slurm-*.out 2>/dev/null)"
  fi
fi

[ $failures -eq 0 ] || exit 1
[ -z "$skipped" ] || exit 77
echo "test_slurm: all checks passed"
