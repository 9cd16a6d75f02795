#!/usr/bin/env bash
# A one-node Slurm cluster in a folder, for the tests: munged (as user munge, its own socket and key),
# slurmctld and slurmd (as root) with a slurm.conf on non-default ports, state and spool under the folder.
#   cluster.sh start DIR   starts the daemons; prints the environment to use them (SLURM_CONF=…)
#   cluster.sh stop DIR    stops what `start DIR` started, by the pids it recorded
# Exit status 77 from start: this machine cannot run a cluster (no packages, not root); the reason on stderr.
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?folder}")

stop() {
    for name in slurmd slurmctld munged; do
        pidfile="$dir/$name.pid"
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi

skip() { echo "cluster: cannot start a one-node Slurm here: $*" >&2; exit 77; }
for tool in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || skip "$tool is not installed (scripts/setup.sh installs it)"
done
[ "$(id -u)" -eq 0 ] || skip "the daemons need root (SlurmUser=root and munged as user munge)"
id munge >/dev/null 2>&1 || skip "there is no user munge"
[ -r /etc/munge/munge.key ] || skip "/etc/munge/munge.key is missing"
export PATH="$PATH:/usr/sbin"

mkdir -p "$dir"
chmod 755 "$dir"
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chown munge: "$dir/munge"
chmod 700 "$dir/munge"

# Ports: two free ones near a random base (non-default so that a real cluster on this machine is untouched).
base=$((20000 + RANDOM % 20000))
ctld_port=$base
slurmd_port=$((base + 1))
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

cat > "$dir/slurm.conf" <<CONF
ClusterName=peftwb-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=10
SchedulerParameters=sched_interval=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --key-file=/etc/munge/munge.key --force \
    || skip "munged does not start: $(tail -n 3 "$dir/munge/munged.log" 2>/dev/null)"
for _ in $(seq 50); do [ -s "$dir/munge/munged.pid" ] && break; sleep 0.1; done
cp "$dir/munge/munged.pid" "$dir/munged.pid"

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$dir/slurm.conf" || { stop; skip "slurmctld does not start: $(tail -n 3 "$dir/log/slurmctld.log")"; }
slurmd -f "$dir/slurm.conf" || { stop; skip "slurmd does not start: $(tail -n 3 "$dir/log/slurmd.log")"; }
for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "SLURM_CONF=$dir/slurm.conf"
        exit 0
    fi
    sleep 0.2
done
state=$(sinfo -h -o '%T %E' 2>&1 || true)
stop
skip "the node did not become idle within 20 s (sinfo: $state)"
