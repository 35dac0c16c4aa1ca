#!/bin/sh
# Managed by kvm-cluster: switch this host's network with commit-confirm.
#
# The deploy stages the new files under $DIR/staged and the transaction in
# $DIR/plan (backend commands, files to install and to move aside), then:
#   kvm-cluster-net arm       validate, back up, snapshot, arm the rollback timer
#   kvm-cluster-net start     run the switch detached from SSH (systemd-run)
#   kvm-cluster-net status    print the transaction's state
#   kvm-cluster-net confirm   the deploy reached the host afresh: disarm the rollback
# and systemd runs the rest:
#   kvm-cluster-net switch    install the files, apply, check the bridge's address
#   kvm-cluster-net rollback  no confirmation in time (or the switch failed):
#                             restore the backed-up files, re-apply, restore addresses
set -u
DIR=/var/lib/kvm-cluster/network
SELF=/usr/local/sbin/kvm-cluster-net
STATE=$DIR/state
LOG=$DIR/log
LOCK=$DIR/lock
# shellcheck source=/dev/null
. "$DIR/plan"
BACKUP=/var/backups/kvm-cluster/network/$TXN
STAGED=$DIR/staged

log() { echo "$(date '+%F %T') [$TXN] $*" >> "$LOG"; }
say() { log "$*"; echo "$*" >&2; }
set_state() { printf '%s %s %s\n' "$1" "$TXN" "${2:-}" > "$STATE.tmp" && mv -f "$STATE.tmp" "$STATE"; }
state_of() { [ "$(cut -d' ' -f2 "$STATE" 2>/dev/null)" = "$TXN" ] && cut -d' ' -f1 "$STATE"; }
lines() { printf '%s\n' "$1" | sed '/^$/d'; }
in_place() { printf '%s\n' "$IN_PLACE" | grep -qxF -- "$1"; }
unit() { echo "kvm-cluster-net-$1-$TXN"; }

# Write $2 to $1: in place for bind-mounted files (Docker's /etc/resolv.conf), else by rename.
put() {
    mkdir -p "$(dirname "$1")"
    if in_place "$1"; then cat "$2" > "$1"; else cp -p "$2" "$1.kvm-cluster-new" && mv -f "$1.kvm-cluster-new" "$1"; fi
}

backup_current() {
    mkdir -p "$BACKUP/files" || return 1
    lines "$INSTALL
$REMOVE" | while IFS= read -r f; do
        [ ! -e "$f" ] || { cp -a --parents "$f" "$BACKUP/files/" && cmp -s "$f" "$BACKUP/files$f"; } || exit 1
    done || return 1
    lines "$INSTALL" > "$BACKUP/installed" || return 1
    lines "$REMOVE" > "$BACKUP/removed" || return 1
    # What no config file may describe (Docker sets eth0 up itself): addresses and routes.
    {
        for dev in $RUNTIME_DEVICES; do
            ip link show dev "$dev" >/dev/null 2>&1 || continue
            echo "ip link set dev $dev up"
            ip -4 -o addr show dev "$dev" scope global | awk -v d="$dev" '{print "ip addr replace " $4 " dev " d}'
        done
        ip -4 route show default | awk '{
            via = ""; dev = "";
            for (i = 1; i < NF; i++) { if ($i == "via") via = $(i + 1); if ($i == "dev") dev = $(i + 1) }
            if (via != "" && dev != "") print "ip route replace default via " via " dev " dev }'
    } > "$BACKUP/runtime" || return 1
    if systemctl -q is-active NetworkManager 2>/dev/null; then echo active > "$BACKUP/nm-active" || return 1; fi
    if systemctl -q is-enabled NetworkManager 2>/dev/null; then echo enabled > "$BACKUP/nm-enabled" || return 1; fi
    if systemctl -q is-enabled network 2>/dev/null; then echo enabled > "$BACKUP/network-enabled" || return 1; fi
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
    if ! out=$(validate 2>&1); then
        set_state invalid "the new configuration does not validate"
        say "the new configuration does not validate (nothing was changed): $out"
        exit 1
    fi
    # The same plan armed again (its running state drifted): keep the older
    # backup (it may hold the pre-bridge configuration), never overwrite it.
    if [ -d "$BACKUP" ]; then mv "$BACKUP" "$BACKUP.$(date +%Y%m%d%H%M%S)" || exit 1; fi
    # Everything the rollback needs is saved first: every file to be replaced
    # or moved aside (each copy compared with its original), what no file
    # describes (addresses, routes), the services' state. Any of it failing
    # (a full disk) stops here, before anything is changed.
    if ! backup_current; then
        set_state failed "the backup of the current configuration failed"
        say "the backup of the current configuration to $BACKUP failed (disk full?): nothing was changed"
        exit 1
    fi
    set_state armed
    if ! systemd-run --unit="$(unit rollback)" --on-active="${TIMEOUT}s" \
            --timer-property=AccuracySec=1s "$SELF" rollback >/dev/null 2>&1; then
        set_state failed "cannot arm the rollback timer (systemd-run)"
        say "cannot arm the rollback timer (systemd-run): nothing was changed"
        exit 1
    fi
    log "armed: rollback in ${TIMEOUT}s unless confirmed; backup in $BACKUP"
    echo "armed $TXN: rollback in ${TIMEOUT}s unless confirmed"
}

start() {
    [ "$(state_of)" = armed ] || { say "transaction $TXN is not armed"; exit 1; }
    systemd-run --unit="$(unit switch)" "$SELF" switch >/dev/null 2>&1 \
        || { say "cannot start the switch (systemd-run)"; rollback_now "the switch could not start"; exit 1; }
    echo "switching $TXN (detached)"
}

fail() {
    say "$1: rolling back now"
    rollback_now "$1"
    exit 1
}

switch() {
    set_state switching
    log "switch: taking the old configuration down"
    pre_switch >> "$LOG" 2>&1
    log "switch: installing the new files"
    lines "$INSTALL" | while IFS= read -r f; do put "$f" "$STAGED$f" || exit 1; done || fail "installing the new files failed"
    lines "$REMOVE" | while IFS= read -r f; do rm -f "$f"; done
    if [ "$NM_STOP" = yes ]; then
        log "switch: stopping and disabling NetworkManager (the new configuration is in place)"
        systemctl stop NetworkManager >> "$LOG" 2>&1
        systemctl disable NetworkManager >> "$LOG" 2>&1
    fi
    log "switch: applying"
    apply >> "$LOG" 2>&1 || fail "applying the new configuration failed (see $LOG)"
    i=0
    until ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $ADDRESS "; do
        i=$((i + 1))
        [ "$i" -gt 20 ] && fail "$BRIDGE does not carry $ADDRESS after applying"
        sleep 0.5
    done
    set_state switched
    log "switched: $BRIDGE carries $ADDRESS; waiting for the confirmation"
}

rollback_now() {
    exec 9> "$LOCK"; flock 9
    case "$(state_of)" in confirmed|rolled-back) return 0 ;; esac
    set_state rolling-back "$1"
    log "rollback: $1"
    systemctl stop "$(unit rollback).timer" 2>/dev/null
    unapply >> "$LOG" 2>&1
    lines "$INSTALL" | while IFS= read -r f; do
        if [ -e "$BACKUP/files$f" ]; then put "$f" "$BACKUP/files$f"; elif ! in_place "$f"; then rm -f "$f"; fi
    done
    lines "$REMOVE" | while IFS= read -r f; do
        [ -e "$BACKUP/files$f" ] && put "$f" "$BACKUP/files$f"
    done
    if [ -e "$BACKUP/nm-enabled" ]; then systemctl enable NetworkManager >> "$LOG" 2>&1; fi
    if [ -e "$BACKUP/nm-active" ]; then systemctl start NetworkManager >> "$LOG" 2>&1; fi
    if [ ! -e "$BACKUP/network-enabled" ] && [ "$BACKEND" = ifcfg ]; then
        systemctl disable network >> "$LOG" 2>&1
    fi
    reapply >> "$LOG" 2>&1
    sh -x "$BACKUP/runtime" >> "$LOG" 2>&1
    set_state rolled-back "$1"
    log "rolled back: the previous configuration is restored"
}

rollback() {
    case "$(state_of)" in confirmed|rolled-back|"") exit 0 ;; esac
    systemctl stop "$(unit switch).service" 2>/dev/null
    rollback_now "no confirmation within ${TIMEOUT}s"
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
    arm|start|switch|rollback|confirm|status) "$1" ;;
    *) echo "usage: $0 arm|start|switch|rollback|confirm|status" >&2; exit 2 ;;
esac
