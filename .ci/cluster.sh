#!/usr/bin/env bash
# A real one-machine SLURM cluster (Debian's slurm-wlm + munge) for the `cluster` tests.
#   .ci/cluster.sh up     install what is missing (apt, as root), write the config, start munged/slurmctld/slurmd
#   .ci/cluster.sh down   stop them
#   .ci/cluster.sh test   up, the `cluster`-marked tests through the real sbatch, down (what `make test-cluster` runs);
#                         after a pass it writes .ci/cluster.passed, the fingerprint of the code they exercise
#   .ci/cluster.sh changed   exit 0 if that code changed since the recorded pass (CI then runs `test`)
# Two nodes, node1 and node2: two slurmd daemons on this host (127.0.0.1, ports 17001/17002, half the CPUs each;
# the names go into /etc/hosts, as a cluster's DNS would have them), one partition; no cgroups
# (proctrack/linuxproc, task/none) and no accounting daemon, so it runs in a container as root. KillWait=5: a
# requeued job goes in 5 s, not 30; OverTimeLimit=1: a time-limit warning that SLURM sends late (it checks every
# 30 s) still reaches a job before the kill.
# Everything lives in $LAE_SLURM_DIR (default /tmp/lae-slurm); tests find it through $SLURM_CONF.
set -euo pipefail
D=${LAE_SLURM_DIR:-/tmp/lae-slurm}
export SLURM_CONF=$D/slurm.conf
cd "$(dirname "$0")/.."

# The code the cluster tests exercise: the launcher, the entry points and the fault handling, and the tests
# themselves. `test` records its fingerprint after a pass; `changed` tells CI whether to run them again.
CLUSTER_CODE=(lightning_ae/slurm.py lightning_ae/cli.py lightning_ae/train.py lightning_ae/run_dir.py
  lightning_ae/interrupts.py lightning_ae/callbacks/fault_tolerance.py lightning_ae/checkpointing.py conf/hydra
  conf/train.yaml .ci/cluster.sh tests/test_cluster.py tests/launch_probes.py)
fingerprint() { find "${CLUSTER_CODE[@]}" -type f | sort | xargs sha256sum | sha256sum | cut -d' ' -f1; }

install() {
  command -v slurmd >/dev/null && command -v munged >/dev/null && return
  [ "$(id -u)" = 0 ] || { echo "cluster: installing slurm-wlm and munge needs root (apt-get)" >&2; exit 2; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
  mkdir -p "$D"/{state,spool/node1,spool/node2,log}
  local host cpus mem
  host=$(hostname -s)
  cpus=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 4 ))
  cat > "$SLURM_CONF" <<CONF
ClusterName=lae
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
OverTimeLimit=1
MinJobAge=300
NodeName=node1 NodeHostname=$host NodeAddr=127.0.0.1 Port=17001 CPUs=$cpus RealMemory=$mem State=UNKNOWN
NodeName=node2 NodeHostname=$host NodeAddr=127.0.0.1 Port=17002 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

up() {
  install
  write_config
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none;
                                   chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  munge -n >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged  # unless one answers already
  grep -q "lae-slurm" /etc/hosts || echo "127.0.0.1 node1 node2  # lae-slurm" >> /etc/hosts
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N node1
  slurmd -f "$SLURM_CONF" -N node2
  for _ in $(seq 60); do
    if [ "$(sinfo -h -N -o %T 2>/dev/null | grep -cx idle)" = 2 ]; then echo "cluster: up ($SLURM_CONF)"; return; fi
    sleep 1
  done
  echo "cluster: the node did not become idle; see $D/log/" >&2
  sinfo -N -l >&2 || true
  tail -20 "$D"/log/*.log >&2 || true
  exit 1
}

down() {
  scancel --quiet --user="$(id -un)" 2>/dev/null || true
  for daemon in slurmd-node1 slurmd-node2 slurmctld; do
    if [ -s "$D/$daemon.pid" ]; then
      pid=$(cat "$D/$daemon.pid")
      kill "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
  done
  if [ -s /run/munge/munged.pid ]; then
    pid=$(cat /run/munge/munged.pid)
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  if grep -q "# lae-slurm$" /etc/hosts; then  # rewritten in place: /etc/hosts may be a mount in a container
    grep -v "# lae-slurm$" /etc/hosts > "$D/hosts" && cat "$D/hosts" > /etc/hosts
  fi
  echo "cluster: down"
}

case "${1:-test}" in
  up) up ;;
  down) down ;;
  test)
    start=$(date +%s)
    up
    set +e
    WANDB_MODE=offline ${PYTHON:-.venv/bin/python} -m pytest -m cluster -p no:cacheprovider -q "${@:2}"
    rc=$?
    set -e
    down
    echo "cluster: tests took $(( $(date +%s) - start )) s in all"
    [ $rc -eq 0 ] && fingerprint > .ci/cluster.passed  # commit it: CI skips the cluster until this code changes
    exit $rc ;;
  changed)  # exit 0 when the launcher/fault code differs from the last tree whose cluster tests passed
    [ "$(fingerprint)" != "$(cat .ci/cluster.passed 2>/dev/null)" ] ;;
  *) echo "usage: $0 up|down|test [pytest args]" >&2; exit 2 ;;
esac
