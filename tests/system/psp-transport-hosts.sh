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

# psp-transport-hosts.sh: PSP transport mode between two hosts with
# routable addresses, with the psp_encrypt and psp_decrypt actions.  Each
# host's IP stack (namespace psp-thN, 10.1.0.N) reaches the wire through
# its own ovs-vswitchd (userspace datapath, namespace psp-toN), whose
# OpenFlow pipeline encrypts what the host sends to the other host and
# decrypts what comes for it:
#
#   th1 10.1.0.1 -- to1 [br0: h1, w1] ==== wire ==== to2 [br0: w2, h2] -- th2 10.1.0.2
#
# Each side allocates a receive SPI for the other through OVSDB
# (PSP_Rx_SA) and the other installs it (PSP_Tx_SA); the flows name only
# the association.  The hosts' MTU is 40 bytes below the wire's.
#
# Usage: psp-transport-hosts.sh OVS_BUILD_DIR demo|check|check-bigmtu
#   check-bigmtu  a TCP stream while the hosts' ports go to MTU 65535 (64 kB
#           receive buffers), then pings of up to 65535 bytes; run it on a
#           sanitizer build
#   demo   shows the flows, a ping, a TCP transfer, the counters and the
#          capture of the wire
#   check  the same with assertions (PASS:/FAIL: lines); exit 1 on failure
# Run as root.  Needs iproute2, tcpdump, ethtool, python3.

set -e -o pipefail

build=$(cd "$1" && pwd)
src=$(cd "$build/../src" && pwd)
mode=$2
work=${PSP_TRANSPORT_DIR:-/tmp/ovs-psp-transport}
data_mb=10
failures=0

PATH=$build/utilities:$build/vswitchd:$build/ovsdb:$PATH

mac() { echo "02:00:00:00:02:0$1"; }
other() { echo $((3 - $1)); }
on() {
    local n=$1
    shift
    ip netns exec "psp-to$n" env OVS_RUNDIR="$work/o$n" OVS_LOGDIR="$work/o$n" \
        OVS_DBDIR="$work/o$n" OVS_SYSCONFDIR="$work/o$n" "$@"
}
host() { local n=$1; shift; ip netns exec "psp-th$n" "$@"; }
vsctl() { local n=$1; shift; on "$n" ovs-vsctl --db="unix:$work/o$n/db.sock" "$@"; }
appctl() { local n=$1; shift; on "$n" ovs-appctl --target="$work/o$n/ovs-vswitchd.ctl" "$@"; }
ofctl() { local n=$1; shift; on "$n" ovs-ofctl "$@"; }

cleanup() {
    local n pid uuid
    for n in 1 2; do
        # The master keys outlive ovs-vswitchd in the kernel keyring
        # (PSP:key_store=keyring): not these.
        uuid=$(vsctl "$n" --timeout=5 get Open_vSwitch . _uuid 2>/dev/null) \
            && "$build/tests/ovstest" test-psp-dp keyring-remove \
                   "ovs-psp:$uuid" 2>/dev/null || true
        for pid in "$work/o$n/ovs-vswitchd.pid" "$work/o$n/ovsdb-server.pid"; do
            test -f "$pid" && kill "$(cat "$pid")" 2>/dev/null || true
        done
    done
    test -f "$work/tcpdump.pid" && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
    rm -f "$work/keys"
    sleep 0.5
    for n in 1 2; do
        ip netns del "psp-to$n" 2>/dev/null || true
        ip netns del "psp-th$n" 2>/dev/null || true
    done
}

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

setup() {
    local n o d
    cleanup
    rm -rf "$work"
    for n in 1 2; do
        mkdir -p "$work/o$n"
        ip netns add "psp-to$n"
        ip netns add "psp-th$n"
        # No IPv6 neighbor discovery on the wire either.
        for ns in "psp-to$n" "psp-th$n"; do
            ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
            ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
        done
        on "$n" ip link set lo up
        host "$n" ip link set lo up
        ip link add eth0 netns "psp-th$n" address "$(mac "$n")" mtu 1460 \
            type veth peer name "h$n" netns "psp-to$n"
        host "$n" ip addr add "10.1.0.$n/24" dev eth0
        host "$n" ip link set eth0 up
        # No ARP on the wire: it would pass in clear.
        host "$n" ip neigh add "10.1.0.$(other "$n")" \
            lladdr "$(mac "$(other "$n")")" dev eth0
        # OVS encrypts the frames as they are: no checksum offload.
        host "$n" ethtool -K eth0 tx off >/dev/null
        on "$n" ip link set "h$n" up
    done
    ip link add w1 netns psp-to1 type veth peer name w2 netns psp-to2
    on 1 ip link set w1 up
    on 2 ip link set w2 up

    for n in 1 2; do
        d=$work/o$n
        on "$n" ovsdb-tool create "$d/conf.db" "$src/vswitchd/vswitch.ovsschema"
        on "$n" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
            --pidfile="$d/ovsdb-server.pid" --log-file="$d/ovsdb-server.log" \
            --detach --no-chdir -vconsole:off
        vsctl "$n" --no-wait init
        on "$n" ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
            --log-file="$d/ovs-vswitchd.log" --unixctl="$d/ovs-vswitchd.ctl" \
            --detach --no-chdir -vconsole:off
        vsctl "$n" -- add-br br0 -- set bridge br0 datapath_type=netdev \
                   -- add-port br0 "h$n" -- set interface "h$n" ofport_request=1 \
                   -- add-port br0 "w$n" -- set interface "w$n" ofport_request=2
    done

    # The SAs, through OVSDB: n allocates an SPI for packets from o, o
    # installs it as its transmit SA to n.
    local rx spi key
    for n in 1 2; do
        o=$(other "$n")
        rx=$(vsctl "$n" create PSP_Rx_SA peer="10.1.0.$o" association=7 \
                 version=0)
        vsctl "$n" --timeout=10 wait-until PSP_Rx_SA "$rx" status:state=active
        spi=$(vsctl "$n" get PSP_Rx_SA "$rx" spi)
        echo "$spi" > "$work/spi$n"
        key=$(vsctl "$n" get PSP_Rx_SA "$rx" sa_key | tr -d '"')
        echo "$key" >> "$work/keys"
        tx=$(vsctl "$o" create PSP_Tx_SA remote="10.1.0.$n" association=7 \
                 spi="$spi" version=0 sa_key="$key")
        vsctl "$o" --timeout=10 wait-until PSP_Tx_SA "$tx" status:state=applied
        echo "o$n allocated SPI $spi for 10.1.0.$o; o$o installed it"
    done
    unset key

    # The pipeline: what the host sends to the other host leaves encrypted
    # (crypt offset 1: the TCP ports stay readable, authenticated); what
    # comes in as PSP is decrypted, and reaches the host only with the SPI
    # this side allocated; nothing else passes either way.
    for n in 1 2; do
        o=$(other "$n")
        ofctl "$n" del-flows br0
        ofctl "$n" add-flows br0 - <<EOF
priority=100,in_port=h$n,ip,nw_src=10.1.0.$n,nw_dst=10.1.0.$o,actions=psp_encrypt(assoc=7,crypt_off=1,mtu=1500),w$n
priority=100,in_port=w$n,udp,nw_dst=10.1.0.$n,tp_dst=1000,actions=psp_decrypt(assoc=7,table=1)
priority=0,actions=drop
table=1,priority=100,in_port=w$n,ip,nw_src=10.1.0.$o,psp_decrypted=1,psp_spi=$(cat "$work/spi$n"),actions=h$n
table=1,priority=0,actions=drop
EOF
    done
    for _ in $(seq 50); do
        host 1 ping -c 1 -W 1 10.1.0.2 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "psp-transport-hosts: 10.1.0.1 cannot reach 10.1.0.2" >&2
    return 1
}

transfer() {
    head -c $((data_mb * 1048576)) /dev/urandom > "$work/data"
    host 2 timeout 120 python3 -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.1.0.2", 5001))
s.listen(1)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(65536)
    if not d:
        break
    h.update(d)
    n += len(d)
print(n, h.hexdigest())' > "$work/received" &
    local sink=$!
    sleep 0.5
    host 1 timeout 120 python3 -c '
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("10.1.0.2", 5001))
s.sendall(data)
s.close()' "$work/data"
    wait $sink
    echo "$(stat -c %s "$work/data") $(sha256sum < "$work/data" | cut -d' ' -f1)" > "$work/sent"
    echo "sent:     $(cat "$work/sent")"
    echo "received: $(cat "$work/received")"
}

case $mode in
demo|check)
    trap cleanup EXIT
    echo "=== two hosts, PSP transport mode through their OVS pipelines"
    setup
    echo "--- o1's flows"
    ofctl 1 dump-flows br0 | sed 's/ duration=[^,]*,//; s/ idle_age=[^,]*,//' \
        | grep -v '^NXST'
    on 2 tcpdump -i w2 -s 0 -U -w "$work/wire.pcap" 2>"$work/tcpdump.log" &
    echo $! > "$work/tcpdump.pid"
    for _ in $(seq 50); do
        grep -q listening "$work/tcpdump.log" 2>/dev/null && break
        sleep 0.1
    done
    echo "--- ping 10.1.0.1 -> 10.1.0.2"
    host 1 ping -c 3 -i 0.2 10.1.0.2
    echo "--- $data_mb MB over TCP, 10.1.0.1 -> 10.1.0.2"
    transfer
    sleep 0.5
    kill "$(cat "$work/tcpdump.pid")"
    wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
    rm -f "$work/tcpdump.pid"
    echo "--- o1 and o2: ovs-appctl psp/show (counters)"
    for n in 1 2; do
        appctl "$n" psp/show | sed -n '/^counters/,/^ports/p' | grep -v '^ports'
    done
    echo "--- o2: the datapath flows"
    appctl 2 dpctl/dump-flows | sed 's/used:[^,]*,//' | grep psp_ | cut -c1-200
    total=$(tcpdump -nn -r "$work/wire.pcap" 2>/dev/null | wc -l)
    other_pkts=$(tcpdump -nn -r "$work/wire.pcap" 'not (udp dst port 1000)' \
                     2>/dev/null | wc -l)
    leaks=$(python3 -c '
import sys
cap = open(sys.argv[1], "rb").read()
data = open(sys.argv[2], "rb").read()
print(sum(1 for i in range(0, len(data) - 32, 65536)
          if data[i:i + 32] in cap))' "$work/wire.pcap" "$work/data")
    echo "--- the wire, as captured on o2's port: the hosts' own addresses"
    echo "    outside, UDP to port 1000, the TCP ports in clear (crypt offset 1)"
    tcpdump -nn -r "$work/wire.pcap" -c 3 'greater 1000' 2>/dev/null
    tcpdump -nn -X -r "$work/wire.pcap" -c 1 'greater 1000' 2>/dev/null | head -6
    echo "--- $total packets captured, $other_pkts not to UDP port 1000;" \
         "$leaks of the sent data's 32-byte samples found in the capture"
    if test "$mode" = check; then
        echo
        echo "=== checks"
        check "transport mode: $data_mb MB over TCP arrive intact (size and SHA-256)" \
            test "$(cat "$work/sent")" = "$(cat "$work/received")"
        check "transport mode: the capture holds the traffic ($total packets)" \
            test "$total" -gt 7000
        check "transport mode: every packet on the wire is UDP to port 1000" \
            test "$other_pkts" = 0
        check "transport mode: none of the payload is on the wire" \
            test "$leaks" = 0
        for n in 1 2; do
            check "transport mode: no PSP drops on o$n" \
                eval "! appctl $n psp/show | grep -q '^  drops'"
        done
        rx=$(appctl 2 psp/show | sed -n 's/.*rx_packets=\([0-9]*\).*/\1/p')
        check "transport mode: o2 decrypted the traffic ($rx packets)" \
            test "${rx:-0}" -gt 7000
        no_keys() {
            { appctl 1 dpctl/dump-flows; appctl 2 dpctl/dump-flows
              ofctl 1 dump-flows br0; ofctl 2 dump-flows br0
              cat "$work"/o?/ovs-vswitchd.log; } | grep -qiFf "$work/keys" && return 1
            return 0
        }
        check "transport mode: no SA key in the flows, datapath flows or logs" \
            no_keys
        echo "psp-transport-hosts: $failures checks failed"
        test $failures = 0
    fi
    ;;
check-bigmtu)
    # The hosts' ports on their switches go to MTU 65535 while a TCP stream
    # runs: netdev-linux then receives into buffers of 65,553 bytes, more
    # than a dp_packet records, and psp_encrypt must grow them.  On a
    # sanitizer build, any read or write out of bounds ends ovs-vswitchd
    # with a report in $work.sanitizer.*.
    trap cleanup EXIT
    export ASAN_OPTIONS="detect_leaks=0:log_path=$work.sanitizer"
    export UBSAN_OPTIONS="print_stacktrace=1:log_path=$work.sanitizer"
    rm -f "$work".sanitizer.*
    echo "=== two hosts, PSP transport mode, their ports at MTU 65535 under traffic"
    setup
    on 2 tcpdump -i w2 -s 0 -U -w "$work/wire.pcap" 2>"$work/tcpdump.log" &
    echo $! > "$work/tcpdump.pid"
    for _ in $(seq 50); do
        grep -q listening "$work/tcpdump.log" 2>/dev/null && break
        sleep 0.1
    done
    stream=$src/psp/tests/system/psp-tcp-stream.py
    host 2 timeout 60 python3 "$stream" recv 10.1.0.2 5002 > "$work/received" &
    sink=$!
    sleep 0.5
    host 1 timeout 60 python3 "$stream" send 10.1.0.2 5002 6 > "$work/sent" &
    sender=$!
    sleep 1
    for n in 1 2; do
        on "$n" ip link set "h$n" mtu 65535
        host "$n" ip link set eth0 mtu 65535
    done
    echo "--- h1 and h2 (and the hosts' eth0) now have MTU 65535"
    wait $sender || true
    wait $sink || true
    echo "sent:     $(cat "$work/sent")"
    echo "received: $(cat "$work/received")"
    # psp_encrypt(mtu=1500) refuses what would not fit the wire.
    echo "--- ping 10.1.0.1 -> 10.1.0.2 with packets of 20028 and 65508 bytes"
    host 1 ping -c 2 -i 0.2 -W 1 -M do -s 20000 10.1.0.2 || true
    host 1 ping -c 2 -i 0.2 -W 1 -M do -s 65480 10.1.0.2 || true
    echo "--- ping with 1000-byte packets"
    host 1 ping -c 3 -i 0.2 -W 2 -s 1000 10.1.0.2 | tail -2 \
        > "$work/small-ping" || true
    cat "$work/small-ping"
    sleep 0.5
    kill "$(cat "$work/tcpdump.pid")"
    wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
    rm -f "$work/tcpdump.pid"
    appctl 1 psp/show | sed -n '/^counters/,/^ports/p' | grep -v '^ports' \
        || true
    other_pkts=$(tcpdump -nn -r "$work/wire.pcap" 'not (udp dst port 1000)' \
                     2>/dev/null | wc -l)
    echo
    echo "=== checks"
    alive() {
        kill -0 "$(cat "$work/o$1/ovs-vswitchd.pid")" 2>/dev/null
    }
    stream_intact() {
        test -s "$work/sent" \
            && test "$(cat "$work/sent")" = "$(cat "$work/received")"
    }
    check "transport mode, MTU 65535: the TCP stream arrives intact (size and SHA-256)" \
        stream_intact
    check "transport mode, MTU 65535: o1's ovs-vswitchd is running" alive 1
    check "transport mode, MTU 65535: o2's ovs-vswitchd is running" alive 2
    check "transport mode, MTU 65535: no sanitizer report" \
        eval '! cat "$work".sanitizer.* 2>/dev/null | grep -q .'
    check "transport mode, MTU 65535: 1000-byte pings still pass" \
        grep -q ' 0% packet loss' "$work/small-ping"
    too_big=$(appctl 1 psp/show | sed -n 's/^  drops tx-too-big=//p' || true)
    check "transport mode, MTU 65535: packets too big are dropped and counted (${too_big:-0})" \
        test "${too_big:-0}" -ge 4
    check "transport mode, MTU 65535: every packet on the wire is UDP to port 1000" \
        test "$other_pkts" = 0
    cat "$work".sanitizer.* 2>/dev/null | head -40 || true
    echo "psp-transport-hosts: $failures checks failed"
    test $failures = 0
    ;;
*)
    echo "usage: $0 OVS_BUILD_DIR demo|check|check-bigmtu" >&2
    exit 2
    ;;
esac
