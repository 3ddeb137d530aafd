#!/bin/bash
# Copyright (c) 2026 The ovs-psp authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at:
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# psp-keyd-mesh.sh: ovs-psp-keyd in a full mesh of hypervisors.
#
# Hypervisors hv1..hv4 in network namespaces, each with its ovsdb-server,
# ovs-vswitchd (userspace datapath), ovs-psp-agent, ovs-psp-keyd and a VM
# namespace (10.0.0.N) behind it, on one underlay L2 segment (a Linux
# bridge in namespace pkm-ul, 192.168.200.N), which is captured.  Each hvN
# has one psp port per other host (options:remote_ip, options:key unique to
# the pair, options:remote_name=hvM); ovs-psp-keyd exchanges the keys over
# mutual TLS with certificates of one CA (ovs-pki, CN=hvN).  Later hv5
# joins and leaves; two rogue hosts try to take part: hv6 with a
# certificate of another CA, hv7 (which the others expect to be "hv7")
# with a valid certificate named "rogue".
#
# Usage: psp-keyd-mesh.sh OVS_BUILD_DIR check|bench
#   check   the system test: exit 1 on failure
#   bench   figures, no assertions: port to first packet, SA pairs set up
#           per second and re-key latency at PSP_KEYD_BENCH_ASSOCS
#           associations (10000) between two hosts
# Run as root.  Needs iproute2, tcpdump, python3 (gdb for the core dumps).

set -e -o pipefail

build=$(cd "$1" && pwd)
src=$(cd "$build/../src" && pwd)
mode=${2:-check}
work=${PSP_MESH_DIR:-/tmp/ovs-psp-mesh}
stream=$src/psp/tests/system/psp-tcp-stream.py
interval=4              # ovs-psp-agent's rotation interval, seconds
secs=${PSP_MESH_SECONDS:-28}    # how long the TCP streams run

PATH=$build/utilities:$build/vswitchd:$build/ovsdb:$PATH

ul_ip() { echo "192.168.200.$1"; }
ul_mac() { printf '02:00:00:00:02:%02x' "$1"; }
vm_mac() { printf '02:00:00:00:03:%02x' "$1"; }
# assoc N M: the association of the pair, the same on both sides.
assoc() { if test "$1" -lt "$2"; then echo $(($1 * 10 + $2)); else echo $(($2 * 10 + $1)); fi; }

on() {
    local n=$1
    shift
    ip netns exec "pkm-hv$n" env OVS_RUNDIR="$work/hv$n" \
        OVS_LOGDIR="$work/hv$n" OVS_DBDIR="$work/hv$n" \
        OVS_SYSCONFDIR="$work/hv$n" "$@"
}
vsctl() { local n=$1; shift; on "$n" ovs-vsctl --timeout=20 --db="unix:$work/hv$n/db.sock" "$@"; }
appctl() { local n=$1; shift; on "$n" ovs-appctl --target="$work/hv$n/ovs-vswitchd.ctl" "$@"; }
ofctl() { local n=$1; shift; on "$n" ovs-ofctl "$@"; }

# keyring N [remove]: hypervisor N's master keys, in hex, from the kernel
# keyring key in which its ovs-vswitchd keeps them (PSP:key_store=keyring,
# the default; named after its Open_vSwitch row); or, with "remove", that
# key removed (it outlives ovs-vswitchd).
keyring() {
    local name
    name="ovs-psp:$(vsctl "$1" --timeout=5 get Open_vSwitch . _uuid)"
    if test "$2" = remove; then
        "$build/tests/ovstest" test-psp-dp keyring-remove "$name"
    else
        "$build/tests/ovstest" test-psp-dp keyring-keys "$name"
    fi
}
keyd_appctl() { local n=$1; shift; on "$n" ovs-appctl -t ovs-psp-keyd "$@"; }
vm() { local n=$1; shift; ip netns exec "pkm-vm$n" "$@"; }
ms() { date +%s%3N; }

failures=0
check() {
    local what=$1
    shift
    if "$@"; then
        echo "PASS: $what"
    else
        echo "FAIL: $what"
        failures=$((failures + 1))
    fi
}

cleanup() {
    local n pid
    for n in 1 2 3 4 5 6 7; do
        test -S "$work/hv$n/db.sock" && keyring "$n" remove >/dev/null 2>&1 || true
        for pid in ovs-psp-agent ovs-psp-keyd ovs-vswitchd ovsdb-server; do
            pid=$work/hv$n/$pid.pid
            test -f "$pid" && kill "$(cat "$pid")" 2>/dev/null || true
        done
    done
    for pid in tcpdump collect; do
        test -f "$work/$pid.pid" && kill $(cat "$work/$pid.pid") 2>/dev/null || true
    done
    rm -f "$work/keys"
    sleep 0.5
    for n in 1 2 3 4 5 6 7; do
        ip netns pids "pkm-vm$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "pkm-hv$n" 2>/dev/null || true
        ip netns del "pkm-vm$n" 2>/dev/null || true
    done
    ip netns del pkm-ul 2>/dev/null || true
}

# The underlay: a Linux bridge in its own namespace.
make_underlay() {
    ip netns add pkm-ul
    ip netns exec pkm-ul sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec pkm-ul sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip netns exec pkm-ul ip link set lo up
    ip netns exec pkm-ul ip link add br0 type bridge
    ip netns exec pkm-ul ip link set br0 up
    ovs-pki --dir="$work/pki" init > "$work/pki.log" 2>&1
    # Another CA, for the rogue hv6.
    ovs-pki --dir="$work/pki2" init >> "$work/pki.log" 2>&1
}

# make_host N [vm] [PKI CN]: hypervisor N (with a VM unless "novm"), its
# certificate CN (default hvN) from PKI's CA (default pki), its daemons.
make_host() {
    local n=$1 withvm=${2:-vm} pki=${3:-pki} cn=${4:-hv$1} d=$work/hv$1
    mkdir -p "$d"
    ip netns add "pkm-hv$n"
    on "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    on "$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    on "$n" ip link set lo up
    ip link add "u$n" netns "pkm-hv$n" type veth peer name "ul$n" netns pkm-ul
    ip netns exec pkm-ul ip link set "ul$n" master br0 up
    on "$n" ip link set "u$n" up
    if test "$withvm" = vm; then
        ip netns add "pkm-vm$n"
        vm "$n" ip link set lo up
        ip link add eth0 netns "pkm-vm$n" address "$(vm_mac "$n")" mtu 1400 \
            type veth peer name "vm${n}p" netns "pkm-hv$n"
        vm "$n" ip addr add "10.0.0.$n/24" dev eth0
        vm "$n" ip link set eth0 up
        vm "$n" ethtool -K eth0 tx off >/dev/null
        on "$n" ip link set "vm${n}p" up
    fi
    (cd "$d" && ovs-pki --dir="$work/$pki" -u req+sign "$cn" switch) \
        >> "$work/pki.log" 2>&1

    on "$n" ovsdb-tool create "$d/conf.db" "$src/vswitchd/vswitch.ovsschema"
    on "$n" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
        --pidfile="$d/ovsdb-server.pid" --log-file="$d/ovsdb-server.log" \
        --unixctl="$d/ovsdb-server.ctl" --detach --no-chdir -vconsole:off
    vsctl "$n" --no-wait init
    on "$n" ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
        --log-file="$d/ovs-vswitchd.log" --unixctl="$d/ovs-vswitchd.ctl" \
        --detach --no-chdir -vconsole:off --disable-system
    vsctl "$n" -- add-br br-ul -- set bridge br-ul datapath_type=netdev \
                    other-config:hwaddr="$(ul_mac "$n")" \
               -- add-port br-ul "u$n" \
               -- add-br br-int -- set bridge br-int datapath_type=netdev
    on "$n" ip addr add "$(ul_ip "$n")/24" dev br-ul
    on "$n" ip link set br-ul up
    ofctl "$n" del-flows br-int
    if test "$withvm" = vm; then
        vsctl "$n" add-port br-int "vm${n}p" -- set interface "vm${n}p" ofport_request=1
    fi
    vsctl "$n" set Open_vSwitch . \
        other_config:private_key="$d/$cn-privkey.pem" \
        other_config:certificate="$d/$cn-cert.pem" \
        other_config:ca_cert="$work/$pki/switchca/cacert.pem"
    start_keyd "$n"
}

start_keyd() {
    local d=$work/hv$1
    on "$1" ovs-psp-keyd --detach --no-chdir --pidfile --log-file \
        -vconsole:off --vswitchd="$d/ovs-vswitchd.ctl" "unix:$d/db.sock"
}

start_agent() {
    local n=$1 d=$work/hv$1
    vsctl "$n" set PSP . rotation_policy:interval=$interval
    on "$n" ovs-psp-agent "unix:$d/db.sock" --pidfile="$d/ovs-psp-agent.pid" \
        --log-file="$d/ovs-psp-agent.log" --unixctl="$d/ovs-psp-agent.ctl" \
        --detach --no-chdir -vconsole:off
}

# add_peer N M: hvN's psp port to hvM, "pspM", and the flows between its VM
# and the port.  Static neighbours, in OVS and in the kernel (for keyd's
# TLS): no ARP on the underlay.
add_peer() {
    local n=$1 m=$2 port=$((10 + $2))
    on "$n" ip neigh replace "$(ul_ip "$m")" lladdr "$(ul_mac "$m")" dev br-ul
    appctl "$n" tnl/neigh/set br-ul "$(ul_ip "$m")" "$(ul_mac "$m")" >/dev/null
    vsctl "$n" add-port br-int "psp$m" -- set interface "psp$m" type=psp \
        ofport_request=$port options:remote_ip="$(ul_ip "$m")" \
        options:key="$(assoc "$n" "$m")" options:remote_name="hv$m"
    ofctl "$n" add-flow br-int "in_port=1,ip,nw_dst=10.0.0.$m,actions=output:$port"
    ofctl "$n" add-flow br-int "in_port=$port,ip,actions=mod_dl_src:$(vm_mac "$m"),mod_dl_dst:$(vm_mac "$n"),output:1"
    if test -d "/run/netns" -a -e "/run/netns/pkm-vm$n"; then
        vm "$n" ip neigh replace "10.0.0.$m" lladdr "$(vm_mac "$m")" dev eth0
    fi
}

del_peer() {
    local n=$1 m=$2 port=$((10 + $2))
    vsctl "$n" del-port br-int "psp$m"
    ofctl "$n" del-flows br-int "in_port=1,ip,nw_dst=10.0.0.$m"
    ofctl "$n" del-flows br-int "in_port=$port"
}

# keyd_up N [SECONDS] [PEERS]: waits until hvN's ovs-psp-keyd says each
# peer in PEERS (host numbers; default: all of its peers) is "up".
keyd_up() {
    local n=$1 t=${2:-10} peers=${3:-} i m ok
    for i in $(seq $((t * 10))); do
        keyd_appctl "$n" keyd/show > "$work/hv$n/keyd-show.tmp" 2>/dev/null || true
        ok=yes
        if test -n "$peers"; then
            for m in $peers; do
                grep -q "^peer $(ul_ip "$m"): up\$" "$work/hv$n/keyd-show.tmp" || ok=
            done
        else
            grep -q '^peer ' "$work/hv$n/keyd-show.tmp" || ok=
            grep '^peer ' "$work/hv$n/keyd-show.tmp" | grep -qv ': up$' && ok=
        fi
        test -n "$ok" && return 0
        sleep 0.1
    done
    return 1
}

others() { local n=$1 m; for m in $hosts; do test "$m" != "$n" && echo "$m"; done; return 0; }

# collect_keys: the key of each receive SPI (spi and old_spi of each
# PSP_Rx_SA row) of each host, with psp/rx-key, into $work/keys for the key
# search.  The peers' transmit keys are the same keys.
collect_keys() {
    local n spi
    for n in $(ls -d "$work"/hv? | sed 's/.*hv//'); do
        test -f "$work/hv$n/ovs-vswitchd.pid" || continue
        keyring "$n" 2>/dev/null | tr ' ' '\n' >> "$work/keys" || true
        for spi in $(vsctl "$n" --bare --columns=spi,old_spi list PSP_Rx_SA 2>/dev/null); do
            grep -qx "$n $spi" "$work/spis" 2>/dev/null && continue
            if appctl "$n" psp/rx-key "$spi" >> "$work/keys" 2>/dev/null; then
                echo >> "$work/keys"
                echo "$n $spi" >> "$work/spis"
            fi
        done
    done
}
collect_loop() {
    while ! test -f "$work/collect.stop"; do
        collect_keys
        sleep 0.5
    done
}

# key_search KEYS FILE...: "FILE: N (hex H, binary B)" for the keys in KEYS.
key_search() {
    python3 -c '
import sys
keys = set()
for line in open(sys.argv[1]):
    for word in line.split():
        if len(word) in (32, 64):
            keys.add(bytes.fromhex(word))
for name in sys.argv[2:]:
    data = open(name, "rb").read()
    hx = {k for k in keys if k.hex().encode() in data
                             or k.hex().upper().encode() in data}
    bn = {k for k in keys if k in data}
    print("%s: %d (hex %d, binary %d)" % (name, len(hx | bn), len(hx), len(bn)))
' "$@"
}

# pcap_check PATTERN PCAP...: what the underlay carried.  Prints one line of
# counts: "udp N udp_not_1000 N tcp N tcp_not_1000 N tls_ok N tls_bad N
# other N pattern N", where a TCP stream is "tls_ok" if its bytes, in
# sequence order, are a run of TLS records.
pcap_check() {
    python3 - "$@" <<'EOF'
import struct, sys
pattern = bytes.fromhex(sys.argv[1]) * 4
c = dict(udp=0, udp_not_1000=0, tcp=0, tcp_not_1000=0, tls_ok=0,
         tls_bad=0, tls_unseen=0, arp=0, other=0, pattern=0)
flows = {}
syns = {}
def packets():
  for name in sys.argv[2:]:
    data = open(name, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        yield linktype, data[off + 16:off + 16 + incl]
        off += 16 + incl
for linktype, pkt in packets():
    if pattern in pkt:
        c["pattern"] += 1
    if linktype == 113:             # Linux cooked (SLL)
        proto, l3 = struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    elif linktype == 276:           # SLL2
        proto, l3 = struct.unpack(">H", pkt[0:2])[0], pkt[20:]
    else:                           # Ethernet
        proto, l3 = struct.unpack(">H", pkt[12:14])[0], pkt[14:]
    if proto == 0x0806:
        c["arp"] += 1
        continue
    if proto != 0x0800 or len(l3) < 20:
        c["other"] += 1
        continue
    ihl = (l3[0] & 15) * 4
    ip_len = struct.unpack(">H", l3[2:4])[0]
    l4 = l3[ihl:ip_len]
    if l3[9] == 17:
        c["udp"] += 1
        if struct.unpack(">H", l4[2:4])[0] != 1000:
            c["udp_not_1000"] += 1
    elif l3[9] == 6:
        c["tcp"] += 1
        sp, dp, seq = struct.unpack(">HHI", l4[:8])
        if 1000 not in (sp, dp):
            c["tcp_not_1000"] += 1
            continue
        doff = (l4[12] >> 4) * 4
        payload = l4[doff:]
        key = (l3[12:16], sp, l3[16:20], dp)
        f = flows.setdefault(key, {})
        if l4[13] & 2:              # SYN: the data starts at seq + 1
            syns[key] = (seq + 1) & 0xffffffff
        if payload:
            f[seq] = payload
    else:
        c["other"] += 1
for key, segs in flows.items():
    if not segs:
        continue
    # The bytes in order from the first after the SYN, up to a gap (a
    # session whose SYN or first data the capture missed is not judged).
    seqs = sorted(segs)
    if key not in syns or seqs[0] != syns[key]:
        c["tls_unseen"] += 1
        continue
    stream, nxt = b"", seqs[0]
    for s in seqs:
        if s > nxt:
            break
        p = segs[s][nxt - s:]
        stream += p
        nxt += len(p)
    i, ok = 0, True
    while i + 5 <= len(stream):
        t, major, minor, n = stream[i], stream[i + 1], stream[i + 2], \
            struct.unpack(">H", stream[i + 3:i + 5])[0]
        if t not in (20, 21, 22, 23) or major != 3 or minor > 4:
            ok = False
            break
        i += 5 + n
    c["tls_ok" if ok else "tls_bad"] += 1
print(" ".join("%s %d" % kv for kv in c.items()))
EOF
}

pcap_field() { sed -n "s/.*\\b$1 \\([0-9]*\\).*/\\1/p" "$work/pcap-check"; }

# The capture: each frame as it enters the bridge from a host (-Q in), in
# two files so that the kernel keeps up: the UDP packets (PSP, tens of
# thousands a second) cut at 400 bytes, which still holds a ping's
# payload if it were in clear; everything else whole (keyd's TLS, for
# the check that it is TLS).
start_capture() {
    local f
    ip netns exec pkm-ul tcpdump -i any -Q in -B 65536 -s 400 -U \
        -w "$work/underlay-udp.pcap" udp 2>"$work/tcpdump-udp.log" &
    echo $! > "$work/tcpdump.pid"
    ip netns exec pkm-ul tcpdump -i any -Q in -B 16384 -s 0 -U \
        -w "$work/underlay-other.pcap" not udp 2>"$work/tcpdump-other.log" &
    echo $! >> "$work/tcpdump.pid"
    for f in udp other; do
        for _ in $(seq 50); do
            grep -q listening "$work/tcpdump-$f.log" 2>/dev/null && break
            sleep 0.1
        done
    done
}
stop_capture() {
    local pid
    sleep 0.5
    for pid in $(cat "$work/tcpdump.pid"); do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$work/tcpdump.pid"
    sed -n 's/^/    tcpdump: /; /dropped by kernel/p' "$work"/tcpdump-*.log
}

# ping_all N: vm N reaches every other VM of $hosts (one ping each).
ping_all() {
    local n=$1 m
    for m in $(others "$n"); do
        vm "$n" ping -c 1 -W 1 "10.0.0.$m" >/dev/null 2>&1 || return 1
    done
}

# no_sa_to N M: hvN has no SA (transmit or receive) and no PSP_Rx_SA row
# for hvM.
no_sa_to() {
    ! appctl "$1" psp/show | grep -q "$(ul_ip "$2")\\b" \
        && test -z "$(vsctl "$1" --bare --columns=_uuid find PSP_Rx_SA peer="$(ul_ip "$2")")"
}
no_tx_sa_to() { ! appctl "$1" psp/show | grep -q "remote=$(ul_ip "$2") "; }

# refused N NAME: hvN's ovs-psp-keyd's total count of refusal NAME.
refused() {
    keyd_appctl "$1" keyd/show | sed -n "s/^refused: .*\\b$2=\\([0-9]*\\).*/\\1/p"
}

check_mode() {
    local n m t0 t1 pids pair i j
    hosts="1 2 3 4"
    echo "=== four hypervisors, a full mesh of psp ports, ovs-psp-keyd on each"
    make_underlay
    start_capture
    t0=$(ms)
    for n in $hosts; do
        make_host "$n"
    done
    for n in $hosts; do
        for m in $(others "$n"); do
            add_peer "$n" "$m"
        done
    done
    # The rogues: hv6 with a certificate of another CA; hv7 with a valid
    # certificate named "rogue", where the others expect "hv7".  Each tries
    # to exchange keys with hv1..hv4, which have ports to them.
    make_host 6 novm pki2 hv6
    make_host 7 novm pki rogue
    for n in 6 7; do
        for m in $hosts; do
            add_peer "$n" "$m"
            add_peer "$m" "$n"
        done
    done
    for n in $hosts; do
        keyd_up "$n" 20 "$(others "$n")" || true
    done
    t1=$(ms)
    echo "all keyd up $((t1 - t0)) ms after the first host's setup began"
    keyd_appctl 1 keyd/show
    check "hv1..hv4: ovs-psp-keyd says every hvN peer is up" \
        eval '(for n in $hosts; do keyd_up $n 1 "$(others $n)" || exit 1; done)'
    check "every VM reaches every other VM" \
        eval '(for n in $hosts; do ping_all $n || exit 1; done)'

    echo
    echo "=== rotations every $interval s on each host, TCP between every pair"
    echo "    of VMs for $secs s; hv2's ovs-psp-keyd killed (-9) and restarted"
    echo "    half way"
    # Payload with a pattern to look for in the capture.
    vm 1 ping -q -c 5 -i 0.2 -s 1000 -p 5053505041594c4f41445041594c4f41 10.0.0.3 \
        > "$work/pattern-ping" 2>&1 || true
    collect_keys
    collect_loop > "$work/collect.log" 2>&1 &
    echo $! > "$work/collect.pid"
    for n in $hosts; do
        start_agent "$n"
    done
    pids=
    for i in $hosts; do
        for j in $hosts; do
            test "$i" -lt "$j" || continue
            pair=$i$j
            vm "$j" timeout $((secs + 60)) python3 "$stream" recv "10.0.0.$j" "60$pair" \
                > "$work/stream-$pair.recv" &
            pids="$pids $!"
        done
    done
    sleep 0.5
    for i in $hosts; do
        for j in $hosts; do
            test "$i" -lt "$j" || continue
            pair=$i$j
            vm "$i" timeout $((secs + 60)) python3 "$stream" send "10.0.0.$j" "60$pair" "$secs" \
                > "$work/stream-$pair.sent" &
            pids="$pids $!"
        done
    done
    sleep $((secs / 2 - 1))
    echo "--- kill -9 hv2's ovs-psp-keyd"
    kill -9 "$(cat "$work/hv2/ovs-psp-keyd.pid")"
    sleep 2
    start_keyd 2
    echo "--- hv2's ovs-psp-keyd restarted"
    t0=$(ms)
    keyd_up 2 20 "$(others 2)" || true
    echo "hv2's ovs-psp-keyd up again after $(($(ms) - t0)) ms"
    for i in $pids; do
        wait "$i" || true
    done
    sleep 1
    for n in $hosts; do
        keyd_up "$n" 10 "$(others "$n")" || true
    done

    echo
    echo "=== checks across rotations"
    intact() {
        local f ok=0 bad=0
        for f in "$work"/stream-*.sent; do
            if test -s "$f" && test "$(cat "$f")" = "$(cat "${f%.sent}.recv")"; then
                ok=$((ok + 1))
            else
                bad=$((bad + 1))
                echo "    stream ${f#$work/stream-}: sent $(cat "$f"), received $(cat "${f%.sent}.recv")"
            fi
        done
        echo "    $ok streams intact, $bad not"
        test "$bad" = 0 -a "$ok" = 6
    }
    check "all 6 TCP streams arrive intact (size and SHA-256)" intact
    for f in "$work"/stream-*.sent; do
        echo "    ${f#$work/stream-}: $(cut -d' ' -f1 "$f") bytes"
    done
    check "each stream moved data (over 10 MB)" \
        eval '(for f in "$work"/stream-*.recv; do test "$(cut -d" " -f1 "$f")" -gt 10000000 || exit 1; done)'
    for n in $hosts; do
        local rot rekeys per
        rot=$(vsctl "$n" get PSP . status:rotations | tr -d '"')
        rekeys=$(grep -c "re-keying SPI" "$work/hv$n/ovs-psp-keyd.log" || true)
        per=$(for m in $(others "$n"); do
                  grep -c "$(ul_ip "$m") association .*re-keying SPI" \
                      "$work/hv$n/ovs-psp-keyd.log" || true
              done | sort -n | head -1)
        check "hv$n rotated at least 3 times ($rot)" test "${rot:-0}" -ge 3
        check "hv$n: ovs-psp-keyd re-keyed each peer's receive SA after each rotation ($rekeys re-keys, at least $per per peer)" \
            test "${per:-0}" -ge 3 -a "${per:-0}" -ge $((rot - 1))
        check "hv$n: no PSP drops" eval "! appctl $n psp/show | grep -q '^  drops'"
        check "hv$n: nothing stale" \
            eval "test -z \"\$(vsctl $n --bare --columns=_uuid find PSP_Rx_SA status:state=stale)\" && ! grep -q '(stale)' '$work/hv$n/ovs-psp-keyd.log' && ! appctl $n psp/show | grep -q ' stale'"
        check "hv$n: the agent never forced a rotation" \
            eval "! grep -qi forc '$work/hv$n/ovs-psp-agent.log'"
        check "hv$n: ovs-psp-keyd says hv1..hv4 are up" keyd_up "$n" 1 "$(others "$n")"
    done

    echo
    echo "=== hv5 joins"
    make_host 5
    hosts="1 2 3 4 5"
    t0=$(ms)
    for m in 1 2 3 4; do
        add_peer 5 "$m"
        add_peer "$m" 5
    done
    for i in $(seq 150); do
        ping_all 5 2>/dev/null && break
        sleep 0.1
    done
    t1=$(ms)
    echo "vm5 reached vm1..vm4 $((t1 - t0)) ms after its ports were added"
    check "hv5 joining: vm5 reaches every VM within 15 s ($((t1 - t0)) ms)" ping_all 5
    check "and every VM reaches vm5" \
        eval '(for n in 1 2 3 4; do vm $n ping -c 1 -W 1 10.0.0.5 >/dev/null || exit 1; done)'
    collect_keys

    echo
    echo "=== hv5 leaves: its ports deleted on hv1..hv4"
    for m in 1 2 3 4; do
        del_peer "$m" 5
    done
    sleep 3
    for m in 1 2 3 4; do
        check "hv$m: no SA to hv5, no PSP_Rx_SA row for it" no_sa_to "$m" 5
    done
    check "hv5: its transmit SAs were removed at the others' request" \
        eval '(for m in 1 2 3 4; do no_tx_sa_to 5 $m || exit 1; done)'
    hosts="1 2 3 4"

    echo
    echo "=== the rogues: hv6 (another CA), hv7 (certificate named \"rogue\")"
    for n in 1 6 7; do
        echo "--- hv$n: keyd/show"
        keyd_appctl "$n" keyd/show | grep -E '^(refused|peer|  sent|  last error)' | grep -v "^peer 192.168.200.[1-5]" || true
    done
    local tls=0 unk=0 wrong=0 r
    for n in $hosts; do
        r=$(refused "$n" tls-failed); tls=$((tls + ${r:-0}))
        r=$(refused "$n" unknown-peer); unk=$((unk + ${r:-0}))
        r=$(refused "$n" wrong-name); wrong=$((wrong + ${r:-0}))
    done
    for m in 6 7; do
        check "hv$m gets no SA: no transmit SA to it on hv1..hv4, none on it" \
            eval "(for n in $hosts; do no_tx_sa_to \$n $m || exit 1; done; ! appctl $m psp/show | grep -q 'remote=')"
        check "hv$m: hv1..hv4 acknowledged nothing from it and it nothing from them" \
            eval "(for n in $hosts; do keyd_appctl \$n keyd/show | grep -A2 '^peer $(ul_ip $m):' | grep -q 'sent [0-9]*, acknowledged 0, installed 0,' || exit 1; done)"
    done
    check "hv1..hv4 refused the other CA's certificate (tls-failed=$tls)" test "$tls" -gt 0
    check "hv1..hv4 refused the unknown name (unknown-peer=$unk)" test "$unk" -gt 0
    check "hv1..hv4 refused hv7's wrong name (wrong-name=$wrong)" test "$wrong" -gt 0

    stop_capture
    echo
    echo "=== the underlay, as captured on the bridge's ports"
    pcap_check 5053505041594c4f41445041594c4f41 "$work"/underlay-*.pcap > "$work/pcap-check"
    cat "$work/pcap-check"
    check "the capture holds PSP traffic ($(pcap_field udp) UDP packets)" \
        test "$(pcap_field udp)" -gt 10000
    check "every UDP packet is to port 1000" test "$(pcap_field udp_not_1000)" = 0
    check "TCP only to or from port 1000 (ovs-psp-keyd)" test "$(pcap_field tcp_not_1000)" = 0
    check "and it is TLS ($(pcap_field tls_ok) sessions, $(pcap_field tls_bad) not TLS, $(pcap_field tls_unseen) not seen from the start)" \
        test "$(pcap_field tls_ok)" -gt 0 -a "$(pcap_field tls_bad)" = 0
    check "nothing else but ARP ($(pcap_field arp) ARP frames, $(pcap_field other) of other protocols)" \
        test "$(pcap_field other)" = 0
    check "none of the payload (the ping's pattern) on the wire" \
        test "$(pcap_field pattern)" = 0
    check "the pattern pings got through ($(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$work/pattern-ping") of 5)" \
        grep -q ' [1-5] received' "$work/pattern-ping"

    key_checks
}

key_checks() {
    local n f
    touch "$work/collect.stop"
    wait "$(cat "$work/collect.pid")" 2>/dev/null || true
    rm -f "$work/collect.pid"
    collect_keys
    echo
    echo "=== keys: $(sort -u "$work/keys" | wc -w) SA keys (psp/rx-key of each receive"
    echo "    SPI used; the transmit keys are the same), searched for in hex and binary"
    for n in 1 2 3 4 5 6 7; do
        appctl "$n" psp/show > "$work/hv$n/psp-show.out"
        appctl "$n" coverage/show > "$work/hv$n/coverage.out"
        keyd_appctl "$n" keyd/show > "$work/hv$n/keyd-show.out" 2>&1 || true
        on "$n" ovsdb-client dump "unix:$work/hv$n/db.sock" > "$work/hv$n/ovsdb-dump.out"
    done
    key_search "$work/keys" "$work"/hv?/conf.db "$work"/hv?/*.log \
        "$work"/hv?/*.out "$work/underlay-other.pcap" > "$work/key-search"
    grep -v ': 0 ' "$work/key-search" | sed "s|$work/||" || true
    check "the keys searched for were collected ($(sort -u "$work/keys" | wc -w))" \
        test "$(sort -u "$work/keys" | wc -w)" -ge 40
    check "no key in database files, ovsdb-client dumps, logs, ovs-appctl output or the TLS capture ($(wc -l < "$work/key-search") files)" \
        test "$(grep -vc ': 0 ' "$work/key-search")" = 0
    check "PSP_Rx_SA:sa_key and PSP:master_keys empty on every host" \
        eval '(for n in 1 2 3 4 5 6 7; do test -z "$(vsctl $n --bare --columns=sa_key list PSP_Rx_SA)" && test "$(vsctl $n get PSP . master_keys)" = "{}" || exit 1; done)'
    for n in 1 2 3 4; do
        on "$n" ovs-appctl --target="$work/hv$n/ovs-psp-agent.ctl" exit 2>/dev/null || true
    done
    sleep 1
    if ! command -v gcore >/dev/null; then
        check "gcore is there to dump a core (package gdb)" false
        return
    fi
    for f in ovs-vswitchd ovs-psp-keyd; do
        gcore -o "$work/core-$f" "$(cat "$work/hv1/$f.pid")" >/dev/null 2>&1 || true
        local core
        core=$(ls "$work"/core-$f.* 2>/dev/null | head -1)
        if test -n "$core"; then
            key_search "$work/keys" "$core" > "$work/core-$f.keys"
            rm -f "$core"
        else
            echo "no core" > "$work/core-$f.keys"
        fi
        echo "--- a core dump of hv1's $f: $(sed 's/.*: //' "$work/core-$f.keys")"
        check "a core dump of hv1's $f holds no key" \
            grep -q ': 0 (hex 0, binary 0)' "$work/core-$f.keys"
    done
    rm -f "$work/keys"
}

# The benchmark: figures, not assertions.
bench_mode() {
    local n i t0 t1 assocs=${PSP_KEYD_BENCH_ASSOCS:-10000}
    hosts="1 2"
    make_underlay
    for n in 1 2; do
        make_host "$n"
    done
    echo "=== port to first packet: ovs-vsctl add-port ... type=psp on both hosts,"
    echo "    then ping vm1 -> vm2 until one passes"
    t0=$(ms)
    add_peer 1 2
    add_peer 2 1
    for i in $(seq 300); do
        vm 1 ping -c 1 -W 0.2 10.0.0.2 >/dev/null 2>&1 && break
    done
    t1=$(ms)
    echo "  first packet delivered $((t1 - t0)) ms after the add-port (both ports, flows included)"

    echo "=== $assocs associations between hv1 and hv2 (one PSP_Peer row each side)"
    for n in 1 2; do
        local m=$((3 - n))
        # The set, written by ovsdb-client transact (no 10,000-word command
        # line for ovs-vsctl).
        python3 -c '
import json, sys
n, addr, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(json.dumps(["Open_vSwitch", {"op": "insert", "table": "PSP_Peer",
    "row": {"address": addr, "remote_name": name,
            "associations": ["set", list(range(1000, 1000 + n))]}}]))' \
            "$assocs" "$(ul_ip "$m")" "hv$m" > "$work/peer$n.json"
    done
    t0=$(ms)
    # hv1 by ovsdb-client transact, hv2 by ovs-vsctl with all $assocs
    # values on its command line.
    on 1 ovsdb-client transact "unix:$work/hv1/db.sock" "$(cat "$work/peer1.json")" >/dev/null
    vsctl 2 create PSP_Peer address="$(ul_ip 1)" remote_name=hv1 \
        associations="$(seq -s, 1000 $((1000 + assocs - 1)))" >/dev/null
    echo "  ovs-vsctl set $(vsctl 2 get PSP_Peer "$(vsctl 2 --bare --columns=_uuid list PSP_Peer)" associations | tr ',' '\n' | wc -l) associations in one command"
    local done_at=
    for i in $(seq 1200); do
        local a b
        a=$(keyd_appctl 1 keyd/show 2>/dev/null | grep -c 'installed by peer' || true)
        b=$(keyd_appctl 2 keyd/show 2>/dev/null | grep -c 'installed by peer' || true)
        if test "$a" -ge $((assocs + 1)) -a "$b" -ge $((assocs + 1)); then
            done_at=$(ms)
            break
        fi
        test $((i % 20)) = 0 && echo "  after $(( ($(ms) - t0) / 1000 )) s: hv1 $a, hv2 $b SPIs installed by the peer"
        sleep 0.5
    done
    if test -n "$done_at"; then
        echo "  $assocs SA pairs set up in $((done_at - t0)) ms:" \
             "$(( assocs * 1000 / (done_at - t0 + 1) )) pairs/s"
    else
        echo "  not all $assocs SA pairs set up within 10 minutes"
        keyd_appctl 1 keyd/show | sed -n 1,8p
    fi
    echo "=== re-key latency at $assocs associations: hv1 rotates (psp/rotate),"
    echo "    from the rotation to each new SPI acknowledged as installed by hv2"
    echo "    (ovs-psp-keyd's log)"
    local rot0 logpos
    logpos=$(wc -l < "$work/hv1/ovs-psp-keyd.log")
    rot0=$(vsctl 1 get PSP . status:rotations | tr -d '"')
    t0=$(ms)
    appctl 1 psp/rotate >/dev/null
    for i in $(seq 600); do
        local k
        k=$(tail -n +$((logpos + 1)) "$work/hv1/ovs-psp-keyd.log" | grep -c 'installed by the peer' || true)
        test "$k" -ge "$assocs" && break
        sleep 0.5
    done
    tail -n +$((logpos + 1)) "$work/hv1/ovs-psp-keyd.log" | grep 'installed by the peer' \
        | head -n "$assocs" | cut -d'|' -f1 | python3 -c '
import sys, datetime
t0 = int(sys.argv[1]) / 1000.0
lat = sorted(datetime.datetime.strptime(l.strip(), "%Y-%m-%dT%H:%M:%S.%fZ")
             .replace(tzinfo=datetime.timezone.utc).timestamp() - t0
             for l in sys.stdin)
if not lat:
    print("  no re-key acknowledged")
else:
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print("  %d SPIs re-keyed and installed by the peer: p50 %.0f ms, "
          "p99 %.0f ms, max %.0f ms" % (len(lat), p(0.5) * 1000,
                                        p(0.99) * 1000, lat[-1] * 1000))
' "$t0"
    echo "  (rotations $rot0 -> $(vsctl 1 get PSP . status:rotations | tr -d '"'))"
    keyd_appctl 1 keyd/show | sed -n 1,5p
}

trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work"
case $mode in
check)
    start=$(ms)
    check_mode
    echo
    echo "psp-keyd-mesh: $failures checks failed ($(( ($(ms) - start) / 1000 )) s)"
    test $failures = 0
    ;;
bench)
    bench_mode
    ;;
*)
    echo "usage: $0 OVS_BUILD_DIR check|bench" >&2
    exit 2
    ;;
esac
