# A one-node Slurm cluster on localhost for the tests, sourced by
# test_slurm.sh and bench_slurm.sh: its own munged (own key and socket),
# slurmctld and slurmd with every state, spool and log file under $SLURM_TMP,
# ports picked free, stopped (jobs cancelled first) by cluster_stop.
#
# No cgroups (a container rarely allows them): proctrack/linuxproc, task/none,
# jobacct_gather/none. Needs root (munged and slurmd run as root here).

cluster_skip() {
  echo "SKIP: $*"
  exit 77
}

cluster_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A TCP port nobody listens on.
cluster_free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  cluster_fail "no free port"
}

cluster_start() {
  [ "$(id -u)" -eq 0 ] || cluster_skip "starting munged, slurmctld and slurmd needs root"
  local p
  for p in munged munge slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
    command -v "$p" >/dev/null ||
      cluster_fail "$p not found: bash tools/install-deps.sh installs munge and Slurm"
  done
  # Jobs inherit the environment: nothing from an enclosing allocation.
  unset "${!SLURM_@}" COSAL_SHARD_COUNT JOB_COMPLETION_INDEX
  SLURM_TMP=$(mktemp -d /tmp/cosal-slurm.XXXXXX)
  chmod 755 "$SLURM_TMP"
  mkdir -p "$SLURM_TMP"/{munge,state,spool,log}
  chmod 755 "$SLURM_TMP/munge"  # munge clients need to reach the socket
  dd if=/dev/urandom of="$SLURM_TMP/munge/munge.key" bs=128 count=1 status=none
  chmod 400 "$SLURM_TMP/munge/munge.key"
  # -f: munged refuses root ownership of its files without it.
  CLUSTER_PIDS=""
  munged -f --socket="$SLURM_TMP/munge/socket" --key-file="$SLURM_TMP/munge/munge.key" \
    --pid-file="$SLURM_TMP/munge/munged.pid" --log-file="$SLURM_TMP/munge/munged.log" \
    --seed-file="$SLURM_TMP/munge/munged.seed" ||
    cluster_fail "munged did not start: $(cat "$SLURM_TMP/munge/munged.log" 2>/dev/null)"

  # The node as slurmd sees it (CPUs, sockets, cores, memory).
  local node
  node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*/NodeName=localhost NodeAddr=127.0.0.1/')
  export SLURM_CONF="$SLURM_TMP/slurm.conf"
  cat >"$SLURM_CONF" <<CONF
ClusterName=cosaltest
SlurmctldHost=localhost
SlurmctldPort=$(cluster_free_port)
SlurmdPort=$(cluster_free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_TMP/munge/socket
StateSaveLocation=$SLURM_TMP/state
SlurmdSpoolDir=$SLURM_TMP/spool
SlurmctldPidFile=$SLURM_TMP/slurmctld.pid
SlurmdPidFile=$SLURM_TMP/slurmd.pid
SlurmctldLogFile=$SLURM_TMP/log/slurmctld.log
SlurmdLogFile=$SLURM_TMP/log/slurmd.log
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
$node
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -f "$SLURM_CONF" || cluster_fail "slurmctld did not start: $(tail -n 20 "$SLURM_TMP/log/slurmctld.log")"
  slurmd -f "$SLURM_CONF" -N localhost || cluster_fail "slurmd did not start: $(tail -n 20 "$SLURM_TMP/log/slurmd.log")"
  local state=""
  for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.2
  done
  [ "$state" = idle ] || cluster_fail "node not idle after 30 s ($state): $(tail -n 20 "$SLURM_TMP/log/slurmctld.log")"
  CLUSTER_PIDS="$(cat "$SLURM_TMP/slurmctld.pid") $(cat "$SLURM_TMP/slurmd.pid")"
  echo "cluster: one node ($node) on ports of $SLURM_CONF, state in $SLURM_TMP"
}

# Waits until no job of ours is queued or running.
cluster_wait_idle() {
  for _ in $(seq "${1:-300}"); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}

# Waits up to 10 s for each daemon to exit; kills what is left, by pid.
cluster_reap() {
  local pid
  for pid in "$@"; do
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: daemon $pid still running, killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

cluster_stop() {
  [ -n "${SLURM_TMP:-}" ] && [ -d "$SLURM_TMP" ] || return 0
  local ids pid
  ids=$(squeue -h -o %i 2>/dev/null || true)
  [ -n "$ids" ] && scancel $ids 2>/dev/null
  cluster_wait_idle 150 || echo "cluster: jobs still queued at shutdown" >&2
  scontrol shutdown >/dev/null 2>&1 || true
  # Slurm's daemons first (their shutdown still talks through munge).
  cluster_reap ${CLUSTER_PIDS:-}
  if [ -f "$SLURM_TMP/munge/munged.pid" ]; then
    pid=$(cat "$SLURM_TMP/munge/munged.pid")
    munged -s --socket="$SLURM_TMP/munge/socket" >/dev/null 2>&1 || true
    cluster_reap "$pid"
  fi

  if [ -n "${COSAL_SLURM_KEEP:-}" ]; then
    echo "cluster: kept $SLURM_TMP"
  else
    rm -rf "$SLURM_TMP"
  fi
}
