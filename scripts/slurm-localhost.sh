#!/usr/bin/env bash
# Single-node SLURM cluster on localhost, for tests and demos (no systemd needed).
#
#   scripts/slurm-localhost.sh start    install (apt, as root) + start, wait for an idle node
#   scripts/slurm-localhost.sh stop     stop only the daemons this script started (and park
#                                       its slurm.conf: see park_conf)
#   scripts/slurm-localhost.sh status   show daemons and node state (exit 0 = node usable)
#   scripts/slurm-localhost.sh restart  stop + start
#
# What it does:
#   * installs Debian's `slurm-wlm` and `munge` if a daemon binary is missing (~15 s);
#   * runs munged as the `munge` user, then slurmctld and `slurmd -N localhost`;
#   * the node `localhost` (NodeAddr 127.0.0.1) gets the CPUs/RealMemory that `slurmd -C`
#     reports (more than that and slurmctld drains the node);
#   * ProctrackType=proctrack/linuxproc and TaskPlugin=task/affinity: no cgroups/systemd
#     needed; a job is still bound to the CPUs it was given (sched_setaffinity), so that
#     Snakemake inside it sees those CPUs only, as on a real cluster;
#   * no slurmdbd, hence no sacct: Snakemake's SLURM plugin must poll with
#     `--slurm-status-command squeue`, which needs MinJobAge >= 3x
#     `--slurm-init-seconds-before-status-checks` (MinJobAge=3600 here, the plugin's default
#     of 40 s needs 120). jobcomp/filetxt keeps a permanent record of finished jobs.
#
# Configuration goes to /etc/slurm (slurm.conf), because that is where Debian's slurm
# binaries (sbatch, squeue, slurmctld, ...) look without SLURM_CONF. A slurm.conf not written
# by this script is never overwritten (set SLURM_LOCALHOST_FORCE=1 to replace it; the old
# file is kept as slurm.conf.bak-<time>). Pid files, spool, state and logs live under
# $SLURM_LOCALHOST_STATE_DIR (default /var/lib/slurm-localhost); a daemon counts as
# "started by this script" only if its pid is recorded there, and only those are stopped.
set -euo pipefail

STATE_DIR=${SLURM_LOCALHOST_STATE_DIR:-/var/lib/slurm-localhost}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER="# Written by breedomics scripts/slurm-localhost.sh"
PARTITION=${SLURM_LOCALHOST_PARTITION:-main}
MIN_JOB_AGE=${SLURM_LOCALHOST_MIN_JOB_AGE:-3600}
WAIT_SECONDS=${SLURM_LOCALHOST_WAIT:-60}

log() { printf '[slurm-localhost] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- pid bookkeeping -------------------------------------------------------------------

# pid_alive PID NAME: process PID exists, is not a zombie and its command name is NAME
pid_alive() {
    local pid=$1 name=$2 state
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# our_pid NAME: pid of NAME recorded by this script, if that process still runs
our_pid() {
    local name=$1 f=$STATE_DIR/run/$1.pid pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc '0-9' <"$f")
    pid_alive "$pid" "$name" || return 1
    echo "$pid"
}

# any_pid NAME: pid of a live process called NAME (started by anyone)
any_pid() {
    local pid
    for pid in $(pgrep -x "$1" 2>/dev/null || true); do
        if pid_alive "$pid" "$1"; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

record_pid() { # NAME PID
    mkdir -p "$STATE_DIR/run"
    echo "$2" >"$STATE_DIR/run/$1.pid"
}

# wait_for_pidfile FILE NAME SECONDS -> echo pid
wait_for_pidfile() {
    local f=$1 name=$2 n=$(($3 * 10)) pid
    while [ "$n" -gt 0 ]; do
        if [ -r "$f" ]; then
            pid=$(tr -dc '0-9' <"$f")
            if pid_alive "$pid" "$name"; then
                echo "$pid"
                return 0
            fi
        fi
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# --- installation ----------------------------------------------------------------------

installed() {
    command -v munged >/dev/null && command -v slurmctld >/dev/null &&
        command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
        command -v squeue >/dev/null
}

install_packages() {
    installed && return 0
    is_root || die "slurm-wlm/munge are not installed and installing them needs root"
    command -v apt-get >/dev/null || die "apt-get not found: install slurm-wlm and munge by hand"
    log "installing slurm-wlm munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
    fi
    installed || die "installation finished but slurm/munge binaries are still missing"
}

# --- munge -----------------------------------------------------------------------------

MUNGE_PIDFILE=/run/munge/munged.pid

setup_munge() {
    id munge >/dev/null 2>&1 || die "user 'munge' missing (is the munge package installed?)"
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
    local pid
    if pid=$(our_pid munged); then
        log "munged already running (pid $pid, started by this script)"
        return 0
    fi
    if pid=$(any_pid munged) && munge_works; then
        log "munged already running (pid $pid, not started by this script: left alone)"
        return 0
    fi
    is_root || die "starting munged needs root"
    setup_munge
    rm -f "$MUNGE_PIDFILE"
    runuser -u munge -- /usr/sbin/munged --force
    pid=$(wait_for_pidfile "$MUNGE_PIDFILE" munged 10) || die "munged did not start (see /var/log/munge/munged.log)"
    record_pid munged "$pid"
    local n=50
    until munge_works; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || die "munged runs but munge/unmunge fails"
        sleep 0.1
    done
    log "munged started (pid $pid)"
}

# --- slurm.conf ------------------------------------------------------------------------

node_hardware() {
    # `slurmd -C` prints e.g. "NodeName=x CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
    # ThreadsPerCore=1 RealMemory=24000"; keep everything but the node name.
    slurmd -C | head -n 1 | tr ' ' '\n' |
        grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' |
        tr '\n' ' '
}

render_conf() { # -> slurm.conf text on stdout
    local hw
    hw=$(node_hardware)
    [ -n "$hw" ] || die "could not read the node's hardware with 'slurmd -C'"
    cat <<EOF
$MARKER
# Single-node test cluster; regenerate with: scripts/slurm-localhost.sh restart
ClusterName=localhost
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MinJobAge=$MIN_JOB_AGE
KillWait=5
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/run/slurmctld.daemon.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.daemon.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

# write_conf: install slurm.conf if it differs; never replace a foreign one unless forced
write_conf() {
    local tmp
    mkdir -p "$CONF_DIR" "$STATE_DIR"/{ctld,spool,log,run}
    tmp=$(mktemp)
    render_conf >"$tmp"
    if [ -e "$CONF" ] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 0
    fi
    if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
        if [ "${SLURM_LOCALHOST_FORCE:-0}" != 1 ]; then
            rm -f "$tmp"
            die "$CONF exists and was not written by this script; set SLURM_LOCALHOST_FORCE=1 to replace it"
        fi
        cp -p "$CONF" "$CONF.bak-$(date +%Y%m%d%H%M%S)"
    fi
    install -m 0644 "$tmp" "$CONF"
    rm -f "$tmp"
    log "wrote $CONF"
}

conf_current() { [ -e "$CONF" ] && render_conf | cmp -s - "$CONF"; }

# --- slurm daemons ---------------------------------------------------------------------

start_daemon() { # NAME PIDFILE CMD...
    local name=$1 pidfile=$2 pid
    shift 2
    if pid=$(our_pid "$name"); then
        log "$name already running (pid $pid, started by this script)"
        return 0
    fi
    if pid=$(any_pid "$name"); then
        log "$name already running (pid $pid, not started by this script: left alone)"
        return 0
    fi
    rm -f "$pidfile"
    "$@"
    pid=$(wait_for_pidfile "$pidfile" "$name" 15) || die "$name did not start (see $STATE_DIR/log/$name.log)"
    record_pid "$name" "$pid"
    log "$name started (pid $pid)"
}

node_state() { sinfo --noheader --nodes=localhost --format=%T 2>/dev/null | head -n 1; }

wait_idle() {
    local n=$((WAIT_SECONDS * 5)) state resumed=0
    while [ "$n" -gt 0 ]; do
        state=$(node_state || true)
        case "$state" in
        idle | mixed | allocated | completing)
            log "node localhost is $state"
            return 0
            ;;
        down* | drain* | fail*)
            if [ "$resumed" = 0 ] && is_root; then
                scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
        esac
        sleep 0.2
        n=$((n - 1))
    done
    scontrol show node localhost >&2 || true
    die "node localhost not idle after ${WAIT_SECONDS}s (state: ${state:-none}; logs in $STATE_DIR/log)"
}

cmd_start() {
    # Reuse a running, healthy cluster without needing root.
    if ! is_root; then
        if installed && scontrol ping >/dev/null 2>&1; then
            wait_idle
            return 0
        fi
        die "the cluster is not running and starting it needs root"
    fi
    install_packages
    start_munged
    mkdir -p "$STATE_DIR"/{ctld,spool,log,run}
    if ! any_pid slurmctld >/dev/null && ! any_pid slurmd >/dev/null; then
        write_conf
    elif ! conf_current; then
        log "running daemons use an older $CONF; 'restart' rewrites and applies it"
    fi
    # -c: start with an empty job queue. Jobs left by an earlier run whose Snakemake is gone
    # would otherwise be recovered and run again, in folders that may have been reused.
    start_daemon slurmctld "$STATE_DIR/run/slurmctld.daemon.pid" /usr/sbin/slurmctld -c
    start_daemon slurmd "$STATE_DIR/run/slurmd.daemon.pid" /usr/sbin/slurmd -N localhost
    wait_idle
}

stop_one() { # NAME
    local name=$1 pid n
    if ! pid=$(our_pid "$name"); then
        rm -f "$STATE_DIR/run/$name.pid"
        if any_pid "$name" >/dev/null; then
            log "$name not started by this script: left running"
        fi
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    n=100
    while pid_alive "$pid" "$name" && [ "$n" -gt 0 ]; do
        sleep 0.1
        n=$((n - 1))
    done
    if pid_alive "$pid" "$name"; then
        log "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/run/$name.pid"
    log "$name stopped (pid $pid)"
}

# park_conf: once no SLURM daemon runs, replace our slurm.conf by a stub (comments only).
# A slurm.conf naming a controller that is down makes every `scontrol` wait ~9 s before
# failing, and Snakemake's SLURM plugin runs `scontrol show config` at every start, even
# of local runs; with the stub scontrol fails at once. `start` writes the full file again.
park_conf() {
    [ -e "$CONF" ] && grep -qxF "$MARKER" "$CONF" || return 0
    if any_pid slurmctld >/dev/null || any_pid slurmd >/dev/null; then
        return 0
    fi
    is_root || return 0
    printf '%s\n# Cluster stopped; `scripts/slurm-localhost.sh start` writes the configuration.\n' \
        "$MARKER" >"$CONF"
    log "parked $CONF (comments only) while the cluster is stopped"
}

cmd_stop() {
    stop_one slurmd
    stop_one slurmctld
    stop_one munged
    park_conf
}

cmd_status() {
    local name pid rc=0 state
    for name in munged slurmctld slurmd; do
        if pid=$(our_pid "$name"); then
            echo "$name: running (pid $pid, started by this script)"
        elif pid=$(any_pid "$name"); then
            echo "$name: running (pid $pid, not started by this script)"
        else
            echo "$name: not running"
            rc=3
        fi
    done
    if installed && scontrol ping >/dev/null 2>&1; then
        state=$(node_state || true)
        echo "node localhost: ${state:-unknown}"
        case "$state" in
        idle | mixed | allocated | completing) ;;
        *) rc=3 ;;
        esac
    else
        echo "slurmctld: not responding"
        rc=3
    fi
    echo "config: $CONF  state/logs: $STATE_DIR"
    return "$rc"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
restart)
    cmd_stop
    cmd_start
    ;;
*)
    echo "usage: $0 {start|stop|status|restart}" >&2
    exit 2
    ;;
esac
