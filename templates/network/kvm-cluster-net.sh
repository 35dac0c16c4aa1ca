#!/bin/sh
# Managed by kvm-cluster: switch this host's network with commit-confirm.
#
# The deploy stages the new files under $DIR/staged and the transaction in
# $DIR/plan (backend commands, files to install and to move aside), then:
#   kvm-cluster-net arm       validate, back up, arm the rollback timer
#   kvm-cluster-net start     run the switch detached from SSH (systemd-run)
#   kvm-cluster-net status    print the transaction's state
#   kvm-cluster-net confirm   the deploy reached the host afresh: disarm the rollback
#   kvm-cluster-net recover   the rollback timer of a pending switch is gone: roll back now
# and systemd runs the rest:
#   kvm-cluster-net switch    install the files, apply, check the bridge's address
#   kvm-cluster-net rollback  no confirmation in time (or the switch failed):
#                             restore the backed-up files, re-apply, restore addresses
#   kvm-cluster-net boot      at boot, before the network: a switch left unconfirmed
#                             by a restart is rolled back (its timer did not survive)
#
# Every failure names the command that failed and what it said.
set -u
cd / || exit 1   # pyinfra runs this from the login user's home; no path here is relative
DIR=/var/lib/kvm-cluster/network
SELF=/usr/local/sbin/kvm-cluster-net
STATE=$DIR/state
LOG=$DIR/log
LOCK=$DIR/lock
[ -f "$DIR/plan" ] || { [ "${1:-}" = boot ] && exit 0; echo "no transaction ($DIR/plan)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$DIR/plan"
BACKUP=/var/backups/kvm-cluster/network/$TXN
STAGED=$DIR/staged
BOOTING=no
NL='
'

log() { echo "$(date '+%F %T') [$TXN] $*" >> "$LOG"; }
say() { log "$*"; echo "$*" >&2; }
set_state() { printf '%s %s %s\n' "$1" "$TXN" "${2:-}" > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"; }
state_of() { [ "$(cut -d' ' -f2 "$STATE" 2>/dev/null)" = "$TXN" ] && cut -d' ' -f1 "$STATE"; }
unit() { echo "kvm-cluster-net-$1-$TXN"; }

# step COMMAND: run a shell command line; on failure, FAILED names it with its
# exit status and the last lines it printed. Everything it prints goes to the log.
FAILED=
step() {
    _out=$(eval "$1" 2>&1)
    _rc=$?
    [ -z "$_out" ] || printf '%s\n' "$_out" >> "$LOG"
    [ "$_rc" -eq 0 ] && return 0
    FAILED="\`$1\` failed (exit $_rc): $(printf '%s' "$_out" | tail -n 3 | tr '\n' ' ' | sed 's/ *$//')"
    log "$FAILED"
    return "$_rc"
}
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# each FUNCTION LIST: FUNCTION for each line of LIST (paths may hold spaces), in this shell.
each() {
    _fn=$1
    _saved=$IFS
    IFS=$NL
    set -f
    for _item in $2; do
        IFS=$_saved
        "$_fn" "$_item" || { IFS=$_saved; set +f; return 1; }
        IFS=$NL
    done
    IFS=$_saved
    set +f
}

# Write $2 to $1 by rename (a running reader keeps the old file), keeping $2's mode.
put() { step "mkdir -p $(q "${1%/*}") && cp -p $(q "$2") $(q "$1.kvm-cluster-new") && mv -f $(q "$1.kvm-cluster-new") $(q "$1")"; }

back_up_file() {
    [ -e "$1" ] || return 0
    step "mkdir -p $(q "$BACKUP/files${1%/*}") && cp -a $(q "$1") $(q "$BACKUP/files$1") && cmp $(q "$1") $(q "$BACKUP/files$1")"
}

backup_current() {
    step "mkdir -p $(q "$BACKUP/files")" || return 1
    each back_up_file "$INSTALL$NL$REMOVE" || return 1
    step "printf '%s\n' \"\$INSTALL\" | sed '/^\$/d' > $(q "$BACKUP/installed")" || return 1
    step "printf '%s\n' \"\$REMOVE\" | sed '/^\$/d' > $(q "$BACKUP/removed")" || return 1
    # What no config file may describe (Docker sets eth0 up itself): addresses and routes.
    step "runtime_state > $(q "$BACKUP/runtime")" || return 1
    for service in NetworkManager network; do
        if systemctl -q is-active "$service" 2>/dev/null; then step "echo active > $(q "$BACKUP/$service-active")" || return 1; fi
        if systemctl -q is-enabled "$service" 2>/dev/null; then step "echo enabled > $(q "$BACKUP/$service-enabled")" || return 1; fi
    done
}

runtime_state() {
    for dev in $RUNTIME_DEVICES; do
        ip link show dev "$dev" >/dev/null 2>&1 || continue
        echo "ip link set dev $dev up"
        ip -4 -o addr show dev "$dev" scope global | awk -v d="$dev" '{print "ip addr replace " $4 " dev " d}'
    done
    ip -4 route show default | awk '{
        via = ""; dev = "";
        for (i = 1; i < NF; i++) { if ($i == "via") via = $(i + 1); if ($i == "dev") dev = $(i + 1) }
        if (via != "" && dev != "") print "ip route replace default via " via " dev " dev }'
}

arm() {
    mkdir -p "$DIR"
    exec 9> "$LOCK"; flock 9
    case "$(cut -d' ' -f1 "$STATE" 2>/dev/null)" in
        armed|switching|switched|rolling-back)
            other=$(cut -d' ' -f2 "$STATE")
            if [ "$other" != "$TXN" ] && systemctl -q is-active "kvm-cluster-net-rollback-$other.timer"; then
                say "transaction $other is still waiting for its confirmation: not starting another"
                exit 1
            fi ;;
    esac
    for u in "$(unit rollback).timer" "$(unit rollback).service" "$(unit switch).service"; do
        systemctl stop "$u" 2>/dev/null; systemctl reset-failed "$u" 2>/dev/null
    done
    if ! validate; then
        set_state invalid "the new configuration does not validate: $FAILED"
        say "the new configuration does not validate (nothing was changed): $FAILED"
        exit 1
    fi
    # The same plan armed again (its running state drifted): keep the older
    # backup (it may hold the pre-bridge configuration), never overwrite it.
    if [ -d "$BACKUP" ] && ! step "mv $(q "$BACKUP") $(q "$BACKUP.$(date +%Y%m%d%H%M%S)")"; then
        set_state failed "the older backup could not be kept: $FAILED"
        say "the older backup $BACKUP could not be kept (nothing was changed): $FAILED"
        exit 1
    fi
    # Everything the rollback needs is saved first: every file to be replaced
    # or moved aside (each copy compared with its original), what no file
    # describes (addresses, routes), the services' state. Any of it failing
    # (a full disk) stops here, before anything is changed.
    if ! backup_current; then
        set_state failed "the backup of the current configuration failed: $FAILED"
        say "the backup of the current configuration to $BACKUP failed (nothing was changed): $FAILED"
        exit 1
    fi
    set_state armed
    if ! step "systemd-run --unit=$(unit rollback) --on-active=${TIMEOUT}s --timer-property=AccuracySec=1s --property=KillMode=process $SELF rollback"; then
        set_state failed "cannot arm the rollback timer: $FAILED"
        say "cannot arm the rollback timer (nothing was changed): $FAILED"
        exit 1
    fi
    log "armed: rollback in ${TIMEOUT}s unless confirmed; backup in $BACKUP"
    echo "armed $TXN: rollback in ${TIMEOUT}s unless confirmed"
}

start() {
    [ "$(state_of)" = armed ] || { say "transaction $TXN is not armed: $(cat "$STATE" 2>/dev/null)"; exit 1; }
    # KillMode=process: what the switch starts (dhclient...) outlives its unit.
    if ! step "systemd-run --unit=$(unit switch) --property=KillMode=process $SELF switch"; then
        say "cannot start the switch: $FAILED: rolling back now"
        rollback_now "the switch could not start: $FAILED"
        exit 1
    fi
    echo "switching $TXN (detached)"
}

fail() {
    say "$1: rolling back now"
    rollback_now "$1"
    exit 1
}

install_staged() { put "$1" "$STAGED$1"; }
remove_file() { step "rm -f $(q "$1")"; }

switch() {
    set_state switching
    log "switch: taking the old configuration down"
    pre_switch >> "$LOG" 2>&1
    log "switch: installing the new files"
    each install_staged "$INSTALL" || fail "installing the new files failed: $FAILED"
    each remove_file "$REMOVE" || fail "moving the old files aside failed: $FAILED"
    if [ "$NM_STOP" = yes ]; then
        log "switch: stopping and disabling NetworkManager (the new configuration is in place)"
        step "systemctl stop NetworkManager" || fail "stopping NetworkManager failed: $FAILED"
        step "systemctl disable NetworkManager" || fail "disabling NetworkManager failed: $FAILED"
    fi
    log "switch: applying"
    apply || fail "applying the new configuration failed: $FAILED"
    i=0
    until ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $ADDRESS "; do
        i=$((i + 1))
        [ "$i" -gt 20 ] && fail "$BRIDGE does not carry $ADDRESS after applying"
        sleep 0.5
    done
    set_state switched
    log "switched: $BRIDGE carries $ADDRESS; waiting for the confirmation"
}

restore_installed() {
    if [ -e "$BACKUP/files$1" ]; then put "$1" "$BACKUP/files$1"; else step "rm -f $(q "$1")"; fi
}
restore_removed() {
    [ ! -e "$BACKUP/files$1" ] || put "$1" "$BACKUP/files$1"
}

rollback_now() {
    exec 9> "$LOCK"; flock 9
    case "$(state_of)" in confirmed|rolled-back) return 0 ;; esac
    set_state rolling-back "$1"
    log "rollback: $1"
    systemctl stop "$(unit rollback).timer" 2>/dev/null
    errors=
    # At boot the network is not up yet: its service brings up the restored files.
    [ "$BOOTING" = yes ] || unapply >> "$LOG" 2>&1
    each restore_installed "$INSTALL" || errors="$errors; $FAILED"
    each restore_removed "$REMOVE" || errors="$errors; $FAILED"
    for service in NetworkManager network; do
        if [ -e "$BACKUP/$service-enabled" ]; then
            step "systemctl enable $service" || errors="$errors; $FAILED"
        elif systemctl -q is-enabled "$service" 2>/dev/null && [ -e "$BACKUP/installed" ]; then
            step "systemctl disable $service" || errors="$errors; $FAILED"
        fi
        if [ -e "$BACKUP/$service-active" ]; then
            if [ "$BOOTING" = yes ]; then
                step "systemctl start --no-block $service" || errors="$errors; $FAILED"
            else
                step "systemctl start $service" || errors="$errors; $FAILED"
            fi
        fi
    done
    if [ "$BOOTING" = yes ]; then
        boot_reapply >> "$LOG" 2>&1
    else
        reapply >> "$LOG" 2>&1
        sh -x "$BACKUP/runtime" >> "$LOG" 2>&1
    fi
    if [ -n "$errors" ]; then
        set_state rolled-back "$1 (restore errors${errors})"
        log "rolled back with errors${errors}"
    else
        set_state rolled-back "$1"
        log "rolled back: the previous configuration is restored"
    fi
}

rollback() {
    case "$(state_of)" in confirmed|rolled-back|"") exit 0 ;; esac
    systemctl stop "$(unit switch).service" 2>/dev/null
    rollback_now "no confirmation within ${TIMEOUT}s"
}

recover() {
    case "$(state_of)" in
        armed|switching|switched|rolling-back) ;;
        *) echo "$(cat "$STATE" 2>/dev/null)"; exit 0 ;;
    esac
    if systemctl -q is-active "$(unit rollback).timer"; then
        say "transaction $TXN still has its rollback timer: it rolls back by itself"
        exit 1
    fi
    systemctl stop "$(unit switch).service" 2>/dev/null
    rollback_now "its rollback timer was gone (the switch was left $(state_of))"
    cat "$STATE"
}

boot() {
    case "$(state_of)" in armed|switching|switched|rolling-back) ;; *) exit 0 ;; esac
    BOOTING=yes
    rollback_now "the host restarted before the switch was confirmed"
}

confirm() {
    exec 9> "$LOCK"; flock 9
    current=$(state_of)
    if [ "$current" = confirmed ]; then echo "confirmed $TXN"; exit 0; fi
    if [ "$current" != switched ]; then
        echo "not confirmed: $(cat "$STATE" 2>/dev/null)"
        exit 1
    fi
    systemctl stop "$(unit rollback).timer" 2>/dev/null
    set_state confirmed
    log "confirmed: the rollback is disarmed"
    echo "confirmed $TXN"
}

status() {
    if [ "$(cut -d' ' -f2 "$STATE" 2>/dev/null)" = "$TXN" ]; then cat "$STATE"; else echo "unknown $TXN"; fi
}

case "${1:-}" in
    arm|start|switch|rollback|recover|confirm|status|boot) "$1" ;;
    *) echo "usage: $0 arm|start|switch|rollback|recover|confirm|status|boot" >&2; exit 2 ;;
esac
