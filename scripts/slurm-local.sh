#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for trying and testing `kdstudio-cli sweep submit`
# without a cluster: Debian's munge and slurm-wlm daemons, run as root from a private folder (their
# own munge key, socket, config, state and logs there; no system file is touched, nothing listens
# outside 127.0.0.1 and the ports below).
#
#   scripts/slurm-local.sh start DIR   start munged, slurmctld and slurmd with their files in DIR
#                                      (created); prints the line to eval for the Slurm commands
#   scripts/slurm-local.sh stop DIR    stop them (the files stay in DIR for reading)
#
#   eval "$(scripts/slurm-local.sh start /tmp/kd-slurm)"   # exports SLURM_CONF
#   kdstudio-cli sweep submit experiments/sweeps/fashion-mnist-methods.json --slurm
#   scripts/slurm-local.sh stop /tmp/kd-slurm
#
# Needs root (slurmd runs jobs as their user) and the packages munge, slurmctld, slurmd and
# slurm-client (scripts/install-deps.sh --slurm). Ports: KD_SLURM_PORT (default 16817) and the
# next one.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(realpath -m "$2")

stop_daemons() {
  local name pid
  for name in slurmd slurmctld munged; do
    [[ -f "$dir/$name.pid" ]] || continue
    pid=$(cat "$dir/$name.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
  done
}

case "$action" in
  stop)
    stop_daemons
    exit 0
    ;;
  start) ;;
  *) usage ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "slurm-local: needs root (slurmd starts jobs as their owner)" >&2
  exit 1
fi
for program in munged slurmctld slurmd sbatch; do
  if ! command -v "$program" >/dev/null; then
    echo "slurm-local: $program is missing: scripts/install-deps.sh --slurm installs munge and Slurm" >&2
    exit 1
  fi
done
port=${KD_SLURM_PORT:-16817}
node=$(hostname -s)
cpus=$(nproc)

mkdir -p "$dir"/{munge,state,spool}
chmod 700 "$dir" "$dir/munge"
stop_daemons  # a cluster left running from an earlier start in the same folder

# munge: its own key and socket, so that a system munged (if any) is not involved.
if [[ ! -f "$dir/munge/munge.key" ]]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 400 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
munged --force --socket="$socket" --key-file="$dir/munge/munge.key" \
  --log-file="$dir/munged.log" --pid-file="$dir/munged.pid" --seed-file="$dir/munge/munged.seed"

cat > "$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster for KD Studio's tests.
ClusterName=kdstudio-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"

# -i: ignore state left by an earlier start of this folder.
slurmctld -i -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N "$node"

# Ready when the node takes jobs.
for _ in $(seq 60); do
  state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
  if [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-local: the node did not come up (state '${state:-none}'); logs in $dir:" >&2
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munged.log" >&2 || true
stop_daemons
exit 1
