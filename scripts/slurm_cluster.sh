#!/usr/bin/env bash
# A throw-away one-node Slurm cluster for tests and CI (docs/cluster.md "Testing").
#
#   scripts/slurm_cluster.sh install            install Debian's slurm-wlm and munge when missing
#   scripts/slurm_cluster.sh up DIR [--private PATH]
#   scripts/slurm_cluster.sh down DIR
#
# `up` writes everything (munge key and socket, slurm.conf, state, logs, pid files) under DIR, on
# random ports, so it neither touches /etc nor collides with another cluster on the machine; it
# starts munged, slurmctld and slurmd as root and waits until the node is idle. Its last stdout
# line is `export SLURM_CONF=DIR/etc/slurm.conf`: the client commands (sbatch, squeue, scancel)
# need that variable. `--private PATH` starts slurmd in its own mount namespace with an empty
# tmpfs over PATH, so that jobs do not see what the submitting host writes there (a cache that is
# not shared with the nodes; DIR/run/private.ok exists when that worked: it needs unshare -m).
# `down` stops the three daemons by their pid files.
set -euo pipefail

die() {
  echo "error: slurm_cluster.sh: $*" >&2
  exit 2
}

cmd=${1:-}
case "$cmd" in
install)
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi
  exit 0
  ;;
up | down) ;;
*) die "usage: slurm_cluster.sh install | up DIR [--private PATH] | down DIR" ;;
esac

dir=${2:-}
[ -n "$dir" ] || die "$cmd needs the cluster folder DIR (e.g. \$(mktemp -d))"
dir=$(mkdir -p "$dir" && cd "$dir" && pwd)

stop_pidfile() {
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

if [ "$cmd" = down ]; then
  stop_pidfile "$dir/run/slurmd.pid"
  stop_pidfile "$dir/run/slurmctld.pid"
  stop_pidfile "$dir/run/munged.pid"
  exit 0
fi

private=""
if [ "${3:-}" = "--private" ]; then
  private=${4:-}
  [ -n "$private" ] || die "--private needs a path"
fi

for b in munged slurmctld slurmd sinfo; do
  command -v "$b" >/dev/null || die "$b not found: run scripts/slurm_cluster.sh install (Debian: slurm-wlm, munge)"
done
[ "$(id -u)" = 0 ] || die "the test cluster runs its daemons as root (SlurmUser=root)"

mkdir -p "$dir"/{etc,munge,state,spool,log,run}
chmod 700 "$dir" "$dir/munge"

# Munge: a fresh key, a private socket.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
  --seed-file="$dir/munge/munged.seed"

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { m = int($2 / 1024) - 1024; print (m > 512 ? m : 512) }' /proc/meminfo)
base=${SLURM_PORT_BASE:-$((20000 + RANDOM % 20000))}

cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=atlas
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MaxArraySize=1001
MinJobAge=30
InactiveLimit=0
KillWait=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/etc/slurm.conf"

slurmctld -f "$SLURM_CONF" -i
rm -f "$dir/run/private.ok"
if [ -n "$private" ] && unshare -m --propagation private true 2>/dev/null; then
  mkdir -p "$private"
  # slurmd (and so every job) sees an empty tmpfs over $private; run/private.ok says it worked.
  unshare -m --propagation private sh -c \
    "mount -t tmpfs -o size=16m atlas-node-local '$private' && touch '$dir/run/private.ok'; exec slurmd -f '$SLURM_CONF'"
else
  [ -z "$private" ] || echo "slurm_cluster: no private mount namespace here (unshare -m failed); --private ignored" >&2
  slurmd -f "$SLURM_CONF"
fi

for _ in $(seq 1 150); do
  state=$(sinfo --noheader --nodes="$host" --format=%t 2>/dev/null | head -1 || true)
  if [ "$state" = idle ]; then
    echo "slurm_cluster: node $host idle ($cpus CPUs, ${mem} MB), ports $base-$((base + 1)), logs $dir/log" >&2
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "slurm_cluster: the node did not become idle (state: ${state:-unknown}); logs:" >&2
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
"$0" down "$dir"
exit 1
