#!/usr/bin/env bash
# netns.sh — test hosts on one machine: network namespaces joined by veth
# pairs to a bridge, each running its own sshd with a private /dev/shm and
# hostname. Used by the multi-host e2e tests (e2e/multihost) and by
# scripts/bench-multihost.sh. Needs root, iproute2 and openssh-server
# (`make multihost-deps`).
#
#   netns.sh up TAG N [RATE]    make hosts TAG-h0..TAG-h{N-1}; RATE (tc syntax,
#                               e.g. 100mbit, 1gbit) shapes both directions of
#                               every host's link with tbf. Prints the env (below).
#   netns.sh down TAG           remove exactly what `up TAG` made (idempotent)
#   netns.sh env TAG            print the env of a running TAG again
#   netns.sh link TAG I up|down take host I's link up or down (host side veth)
#   netns.sh exec TAG I CMD...  run CMD on host I (its network, mount and UTS
#                               namespaces: the same /dev/shm and hostname as ssh)
#   netns.sh bytes TAG          bytes that crossed each host's link, CSV:
#                               host,iface,addr,out_bytes,in_bytes (out = sent by the host)
#   netns.sh list               the TAGs that are up
#   netns.sh deps               install what is missing (Debian: openssh-server,
#                               openssh-client, iproute2) without starting
#                               the system's sshd; root or sudo
#
# Layout of TAG (TAG: a lowercase letter then up to 9 letters or digits):
#   bridge br-TAG in the root namespace, address 10.77.X.254/24 (the launcher
#   runs there); namespace TAG-hI holds eth0 = 10.77.X.(I+1)/24, its peer
#   TAG-vI sits on the bridge. X is the first 10.77.X.0/24 (X in 1..250) that
#   no interface and no other TAG uses. sshd listens on 10.77.X.(I+1):22 and
#   accepts root with the generated key; every ssh session on host I shares
#   its mount and UTS namespaces: /dev/shm is a tmpfs of its own and the
#   hostname is TAG-hI.
#
# The env printed by `up` and `env` (shell syntax, one KEY=VALUE a line):
#   NETNS_TAG, NETNS_N, NETNS_RATE, NETNS_DIR (state directory), NETNS_SUBNET
#   (10.77.X.0/24), NETNS_ROOT_ADDR (10.77.X.254), NETNS_ADDRS (space
#   separated host addresses), NETNS_NAMES (TAG-h0 ...), NETNS_KEY (client
#   key), NETNS_SSH (the ssh command line to use, e.g. as fltk-launch --ssh or
#   mpirun's plm_rsh_agent), NETNS_SSH_CONFIG (an ssh config naming the hosts
#   TAG-hI and hI), NETNS_HOSTFILE (one "ADDR slots=1" a line).
#
# State lives in ${NETNS_STATE:-/tmp/fltk-netns}/TAG.
set -euo pipefail

STATE_ROOT=${NETNS_STATE:-/tmp/fltk-netns}
LOCK=${NETNS_LOCK:-/tmp/fltk-netns.lock}
SSHD=${SSHD:-/usr/sbin/sshd}

die() {
    printf 'netns.sh: %s\n' "$*" >&2
    exit 2
}
log() { printf 'netns.sh: %s\n' "$*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

check_tag() {
    [[ ${1:-} =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "bad TAG '${1:-}': a lowercase letter then up to 9 letters or digits"
}

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root"
}

# load TAG: reads the saved env of TAG into the shell.
load() {
    local f="$STATE_ROOT/$1/env"
    [ -f "$f" ] || die "TAG $1 is not up ($f missing)"
    # shellcheck disable=SC1090
    . "$f"
}

host_index() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -ge "$1" ]; then
        die "bad host index '$2' (0..$(($1 - 1)))"
    fi
}

# tbf on the egress of DEV at RATE; burst NETNS_BURST_MS (default 10) ms of
# RATE, at least 128 KiB so a veth GSO packet of 64 KiB always fits.
shape() {
    local ns=$1 dev=$2 rate=$3 bps burst ms=${NETNS_BURST_MS:-10}
    [[ $ms =~ ^[0-9]+$ ]] && [ "$ms" -ge 1 ] || die "bad NETNS_BURST_MS '$ms' (whole milliseconds, at least 1)"
    bps=$(rate_bps "$rate")
    burst=$((bps / 8 * ms / 1000))
    [ "$burst" -ge 131072 ] || burst=131072
    ip ${ns:+-n "$ns"} link set "$dev" txqueuelen 1000
    tc ${ns:+-n "$ns"} qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 100ms
}

# rate_bps RATE: RATE in bit/s (tc units: bit, kbit, mbit, gbit; k, m, g).
rate_bps() {
    local r=${1,,} n u
    [[ $r =~ ^([0-9]+)([kmg]?)(bit|bps)?$ ]] || die "bad RATE '$1' (e.g. 100mbit, 1gbit)"
    n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
    case $u in
    k) n=$((n * 1000)) ;;
    m) n=$((n * 1000000)) ;;
    g) n=$((n * 1000000000)) ;;
    esac
    [ "${BASH_REMATCH[3]}" = bps ] && n=$((n * 8))
    echo "$n"
}

# free_subnet: the first X in 1..250 with no 10.77.X.* address on any
# interface and no saved TAG using it. Caller holds the lock.
free_subnet() {
    local x used
    used=$(ip -4 -o addr show | awk '{print $4}')
    for x in $(seq 1 250); do
        if grep -q "^10\.77\.$x\." <<<"$used"; then continue; fi
        if grep -qsx "NETNS_SUBNET=10.77.$x.0/24" "$STATE_ROOT"/*/env; then continue; fi
        echo "$x"
        return 0
    done
    die "no free 10.77.X.0/24 subnet"
}

iptables_rule() { # iptables_rule -I|-C|-D TAG
    iptables -w 10 "$1" FORWARD -i "br-$2" -o "br-$2" -j ACCEPT
}

cmd_up() {
    local tag=${1:-} n=${2:-} rate=${3:-}
    check_tag "$tag"
    [[ $n =~ ^[1-9][0-9]?$ ]] || die "bad N '$n' (1..99)"
    [ -z "$rate" ] || rate_bps "$rate" >/dev/null
    need_root
    [ -x "$SSHD" ] || die "$SSHD missing: run make multihost-deps (Debian openssh-server)"
    for c in ip ssh ssh-keygen unshare nsenter; do
        command -v "$c" >/dev/null || die "$c missing: run make multihost-deps"
    done
    [ -n "$rate" ] && { command -v tc >/dev/null || die "tc missing (iproute2)"; }

    local dir="$STATE_ROOT/$tag"
    mkdir -p "$STATE_ROOT"
    exec 9>"$LOCK"
    flock -w 60 9 || die "lock $LOCK busy"
    if [ -e "$dir" ] || ip link show "br-$tag" >/dev/null 2>&1; then
        die "TAG $tag exists: netns.sh down $tag first"
    fi
    local x
    x=$(free_subnet)
    mkdir -p "$dir"
    chmod 700 "$dir"
    # From here on a failure undoes everything made so far.
    trap 'log "up $tag failed; cleaning up"; cmd_down "$tag" >/dev/null 2>&1 || true' ERR
    # The env is written first (subnet reserved, down knows what to remove).
    local i addrs="" names=""
    for ((i = 0; i < n; i++)); do
        addrs+="${addrs:+ }10.77.$x.$((i + 1))"
        names+="${names:+ }$tag-h$i"
    done
    local key="$dir/id_ed25519"
    local sshcmd="ssh -F none -i $key -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    cat >"$dir/env" <<EOF
NETNS_TAG=$tag
NETNS_N=$n
NETNS_RATE=$rate
NETNS_DIR=$dir
NETNS_SUBNET=10.77.$x.0/24
NETNS_ROOT_ADDR=10.77.$x.254
NETNS_ADDRS="$addrs"
NETNS_NAMES="$names"
NETNS_KEY=$key
NETNS_SSH="$sshcmd"
NETNS_SSH_CONFIG=$dir/ssh_config
NETNS_HOSTFILE=$dir/hosts
EOF
    flock -u 9
    exec 9>&-

    ssh-keygen -q -t ed25519 -N '' -C "fltk-netns-$tag" -f "$key"
    ssh-keygen -q -t ed25519 -N '' -C "fltk-netns-$tag-host" -f "$dir/ssh_host_ed25519_key"
    cp "$key.pub" "$dir/authorized_keys"
    chmod 600 "$dir/authorized_keys"
    mkdir -p /run/sshd # sshd's privilege separation directory
    chmod 755 /run/sshd

    ip link add "br-$tag" type bridge
    ip link set "br-$tag" up
    ip addr add "10.77.$x.254/24" dev "br-$tag"
    if command -v iptables >/dev/null 2>&1; then
        iptables_rule -I "$tag"
        touch "$dir/iptables"
    fi

    : >"$dir/hosts"
    {
        echo "# ssh config of netns TAG $tag: ssh -F $dir/ssh_config $tag-h0"
        echo "Host *"
        echo "    User root"
        echo "    IdentityFile $key"
        echo "    IdentitiesOnly yes"
        echo "    StrictHostKeyChecking no"
        echo "    UserKnownHostsFile /dev/null"
        echo "    LogLevel ERROR"
    } >"$dir/ssh_config"
    for ((i = 0; i < n; i++)); do
        local ns="$tag-h$i" veth="$tag-v$i" addr="10.77.$x.$((i + 1))"
        ip netns add "$ns"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "br-$tag" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        if [ -n "$rate" ]; then
            shape "" "$veth" "$rate"
            shape "$ns" eth0 "$rate"
        fi
        local cfg="$dir/sshd_h$i.conf"
        cat >"$cfg" <<EOF
ListenAddress $addr:22
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd_h$i.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
EOF
        # ip netns exec, unshare and sh all exec: $! is sshd's pid.
        ip netns exec "$ns" unshare --mount --uts --propagation private \
            sh -c "mount -t tmpfs -o mode=1777 tmpfs /dev/shm && hostname $ns && exec $SSHD -D -e -f $cfg" \
            </dev/null >"$dir/sshd_h$i.log" 2>&1 &
        echo $! >"$dir/sshd_h$i.launch.pid"
        echo "$addr slots=1" >>"$dir/hosts"
        printf 'Host %s h%d\n    HostName %s\n' "$ns" "$i" "$addr" >>"$dir/ssh_config"
    done
    # Wait until every sshd answers a login (at most 20 s).
    for ((i = 0; i < n; i++)); do
        local addr="10.77.$x.$((i + 1))" ok=0 t
        for ((t = 0; t < 100; t++)); do
            if $sshcmd -o BatchMode=yes -o ConnectTimeout=2 "root@$addr" true 2>/dev/null; then
                ok=1
                break
            fi
            if ! kill -0 "$(cat "$dir/sshd_h$i.launch.pid")" 2>/dev/null; then
                log "sshd of $tag-h$i exited:"
                cat "$dir/sshd_h$i.log" >&2
                false
            fi
            sleep 0.2
        done
        if [ "$ok" != 1 ]; then
            log "sshd of $tag-h$i does not accept logins; log:"
            cat "$dir/sshd_h$i.log" >&2
            false
        fi
    done
    trap - ERR
    cat "$dir/env"
}

# alive PID: whether PID runs (a zombie does not: our sshds are orphans,
# and a container's init may be slow to reap them).
alive() {
    local st
    st=$(sed -n 's/^.*) \([A-Za-z]\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

cmd_down() {
    local tag=${1:-}
    check_tag "$tag"
    need_root
    local dir="$STATE_ROOT/$tag" n=0 i
    if [ -f "$dir/env" ]; then
        # shellcheck disable=SC1091
        n=$(. "$dir/env" && echo "$NETNS_N")
    fi
    # Hosts may exist beyond N if up failed half way: look for TAG-h* too.
    local nss
    nss=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$tag-h[0-9]+$" || true)
    # 1. sshd by pidfile (TERM, then KILL after 2 s).
    local pids=() p f
    for f in "$dir"/sshd_h*.launch.pid "$dir"/sshd_h*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        [[ $p =~ ^[0-9]+$ ]] || continue
        # Only a process that is an sshd in one of our namespaces.
        if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$SSHD" ]; then
            pids+=("$p")
        fi
    done
    # 2. anything else still running in our namespaces (workers of a test
    #    that did not clean up): all of it was started through our sshd.
    local ns
    for ns in $nss; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            pids+=("$p")
        done
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            local alive=0
            for p in "${pids[@]}"; do alive "$p" && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    # 3. links, namespaces, bridge, firewall rule.
    for ns in $nss; do
        i=${ns##*-h}
        ip link del "$tag-v$i" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    for ((i = 0; i < n; i++)); do
        ip link del "$tag-v$i" 2>/dev/null || true
    done
    ip link del "br-$tag" 2>/dev/null || true
    if command -v iptables >/dev/null 2>&1; then
        while iptables_rule -C "$tag" 2>/dev/null; do
            iptables_rule -D "$tag" 2>/dev/null || break
        done
    fi
    # 4. state directory.
    case $dir in
    "$STATE_ROOT"/?*) rm -rf "$dir" ;;
    esac
}

cmd_env() {
    check_tag "${1:-}"
    cat "$STATE_ROOT/$1/env" 2>/dev/null || die "TAG $1 is not up"
}

cmd_link() {
    local tag=${1:-} i=${2:-} state=${3:-}
    check_tag "$tag"
    need_root
    load "$tag"
    host_index "$NETNS_N" "$i"
    case $state in up | down) ;; *) die "link TAG I up|down" ;; esac
    ip link set "$tag-v$i" "$state"
}

cmd_exec() {
    local tag=${1:-} i=${2:-}
    check_tag "$tag"
    need_root
    load "$tag"
    host_index "$NETNS_N" "$i"
    shift 2
    [ $# -gt 0 ] || die "exec TAG I CMD..."
    local pid
    pid=$(cat "$NETNS_DIR/sshd_h$i.launch.pid")
    alive "$pid" || die "sshd of $tag-h$i is not running"
    exec nsenter -t "$pid" -n -m -u -- "$@"
}

cmd_bytes() {
    local tag=${1:-} i
    check_tag "$tag"
    load "$tag"
    local addrs
    read -r -a addrs <<<"$NETNS_ADDRS"
    echo "host,iface,addr,out_bytes,in_bytes"
    for ((i = 0; i < NETNS_N; i++)); do
        local s="/sys/class/net/$tag-v$i/statistics"
        # The host side's rx is what host i sent, its tx what host i received.
        echo "$tag-h$i,$tag-v$i,${addrs[$i]},$(cat "$s/rx_bytes"),$(cat "$s/tx_bytes")"
    done
}

cmd_list() {
    local f
    for f in "$STATE_ROOT"/*/env; do
        [ -f "$f" ] || continue
        basename "$(dirname "$f")"
    done
}

# deps: apt-get install what up needs. A policy-rc.d that denies every
# service start is in place during the install (unless one already is), so
# installing openssh-server starts no sshd in the root namespace.
cmd_deps() {
    local p missing=()
    for p in openssh-server openssh-client iproute2; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    local policy=/usr/sbin/policy-rc.d ours=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# fltk netns.sh deps: start no service while installing\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        ours=1
    fi
    log "installing ${missing[*]}"
    local rc=0
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" ||
        { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } || rc=$?
    [ "$ours" = 1 ] && "${sudo[@]}" rm -f "$policy"
    return "$rc"
}

case ${1:-} in
up) shift && cmd_up "$@" ;;
down) shift && cmd_down "$@" ;;
env) shift && cmd_env "$@" ;;
link) shift && cmd_link "$@" ;;
exec) shift && cmd_exec "$@" ;;
bytes) shift && cmd_bytes "$@" ;;
list) shift && cmd_list ;;
deps) shift && cmd_deps ;;
*) usage ;;
esac
