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

# psp-hosts.sh: two "hypervisors" in network namespaces, each with its own
# ovsdb-server and ovs-vswitchd (userspace datapath), joined by an underlay
# through a transit switch (a third OVS, "hv3", that forwards the PSP
# packets without decrypting them and samples one inner port's), with a
# "VM" namespace behind each hypervisor:
#
#   vm1 (10.0.0.1) -- hv1 [br-int: psp0] [br-ul: 192.168.100.1] --u1
#                                                                   | veth
#                                               transit hv3 [br-tr] t1, t2
#                                                                   | veth
#   vm2 (10.0.0.2) -- hv2 [br-int: psp0] [br-ul: 192.168.100.2] --u2
#
# Usage: psp-hosts.sh OVS_BUILD_DIR demo|check|check-dpdk|bench
#   demo    sets up PSP between the hypervisors, sends ping and TCP traffic,
#           shows the counters and the capture of the underlay, cleans up
#   check   the same with assertions (the system test), then continuous TCP
#           while ovs-psp-agent rotates the master keys of both hypervisors
#           and ovs-psp-keyd re-keys, then a search for the keys in
#           everything an operator can read; exit 1 on failure
#   check-dpdk  the first part of check (traffic, capture, counters, the
#           transit switch) with DPDK: hv1's and hv2's underlay ports are
#           DPDK net_af_packet devices on their veths, polled by PMD
#           threads, with EAL started without hugepages or PCI; needs an
#           OVS_BUILD_DIR built --with-dpdk.  Exit 77, with the reason, if
#           DPDK cannot start here
#   check-bigmtu  a TCP stream while the VMs' ports go to MTU 65535 (64 kB
#           receive buffers), then pings of up to 65535 bytes: the stream
#           intact, ovs-vswitchd running, packets too big to encrypt
#           dropped and counted, no sanitizer report (run it on a
#           sanitizer build)
#   bench   TCP throughput VM to VM over plain forwarding, Geneve and PSP
# With PSP, ovs-psp-keyd on each hypervisor exchanges the keys over mutual
# TLS (certificates from ovs-pki, CN=hv1 and hv2; psp0's
# options:remote_name names the peer's).
# Run as root.  Needs iproute2, tcpdump, ethtool, python3 (and iperf3 for
# bench).  PSP_HOSTS_TUNNEL=geneve runs demo or check over Geneve instead,
# to see the checks fail on a tunnel that does not encrypt.

set -e -o pipefail

build=$(cd "$1" && pwd)
src=$(cd "$build/../src" && pwd)
mode=$2
work=${PSP_HOSTS_DIR:-/tmp/ovs-psp-hosts}
data_mb=10
dpdk=
test "$mode" = check-dpdk && dpdk=yes
# The PMD threads' core: the second one if there are two.
pmd_mask=0x1
test "$(nproc)" -ge 2 && pmd_mask=0x2

PATH=$build/utilities:$build/vswitchd:$build/ovsdb:$PATH

ul_mac() { echo "02:00:00:00:01:0$1"; }
vm_mac() { echo "02:00:00:00:00:0$1"; }
other() { echo $((3 - $1)); }

# on N CMD...: runs CMD in hypervisor N's namespace, with its OVS files.
on() {
    local n=$1
    shift
    ip netns exec "psp-hv$n" env OVS_RUNDIR="$work/hv$n" \
        OVS_LOGDIR="$work/hv$n" OVS_DBDIR="$work/hv$n" \
        OVS_SYSCONFDIR="$work/hv$n" "$@"
}
vsctl() { local n=$1; shift; on "$n" ovs-vsctl --db="unix:$work/hv$n/db.sock" "$@"; }
appctl() { local n=$1; shift; on "$n" ovs-appctl --target="$work/hv$n/ovs-vswitchd.ctl" "$@"; }

# keyring N [remove]: hypervisor N's master keys, in hex, from the kernel
# keyring key in which its ovs-vswitchd keeps them (PSP:key_store=keyring,
# the default; named after its Open_vSwitch row); or, with "remove", that
# key removed.
keyring() {
    local name
    name="ovs-psp:$(vsctl "$1" --timeout=5 get Open_vSwitch . _uuid)"
    if test "$2" = remove; then
        "$build/tests/ovstest" test-psp-dp keyring-remove "$name"
    else
        "$build/tests/ovstest" test-psp-dp keyring-keys "$name"
    fi
}
ofctl() { local n=$1; shift; on "$n" ovs-ofctl "$@"; }
vm() { local n=$1; shift; ip netns exec "psp-vm$n" "$@"; }

cleanup() {
    local n pid
    for n in 1 2 3; do
        # The master keys outlive ovs-vswitchd in the keyring: not these.
        keyring "$n" remove 2>/dev/null || true
        for pid in "$work/hv$n/ovs-psp-agent.pid" "$work/hv$n/ovs-psp-keyd.pid" \
                   "$work/hv$n/ovs-vswitchd.pid" \
                   "$work/hv$n/ovsdb-server.pid"; do
            test -f "$pid" && kill "$(cat "$pid")" 2>/dev/null || true
        done
    done
    test -f "$work/tcpdump.pid" && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
    test -f "$work/collect.pid" && kill "$(cat "$work/collect.pid")" 2>/dev/null || true
    rm -f "$work/keys"
    sleep 0.5
    # What else runs in the transit namespace (the IPFIX collector).
    ip netns pids psp-hv3 2>/dev/null | xargs -r kill 2>/dev/null || true
    for n in 1 2 3; do
        ip netns del "psp-hv$n" 2>/dev/null || true
        ip netns del "psp-vm$n" 2>/dev/null || true
    done
}

# Namespaces and links.  The VMs' MTU leaves room for the tunnel's overhead
# on a 1500-byte underlay (PSP over IPv4 adds 60 bytes to an IP packet,
# Geneve 50).
make_hosts() {
    local n
    cleanup
    rm -rf "$work"
    for n in 1 2; do
        mkdir -p "$work/hv$n"
        ip netns add "psp-hv$n"
        ip netns add "psp-vm$n"
        ip netns exec "psp-hv$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip netns exec "psp-hv$n" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
        ip netns exec "psp-hv$n" ip link set lo up
        vm "$n" ip link set lo up
        ip link add eth0 netns "psp-vm$n" address "$(vm_mac "$n")" mtu 1400 \
            type veth peer name "vm${n}p" netns "psp-hv$n"
        vm "$n" ip addr add "10.0.0.$n/24" dev eth0
        vm "$n" ip link set eth0 up
        vm "$n" ip neigh add "10.0.0.$(other "$n")" \
            lladdr "$(vm_mac "$(other "$n")")" dev eth0
        # OVS reads the VMs' frames as they are: no checksum offload.
        vm "$n" ethtool -K eth0 tx off >/dev/null
        on "$n" ip link set "vm${n}p" up
    done
    mkdir -p "$work/hv3"
    ip netns add psp-hv3
    on 3 sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    on 3 sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    on 3 ip link set lo up
    for n in 1 2; do
        ip link add "u$n" netns "psp-hv$n" type veth peer name "t$n" \
            netns psp-hv3
        on "$n" ip link set "u$n" up
        on 3 ip link set "t$n" up
    done
}

# The transit switch hv3: forwards everything (normal), and samples to IPFIX
# the PSP packets whose inner destination port, left readable by the crypt
# offset, is $transit_port (the 10 MB transfer's).
transit_port=5001
configure_transit() {
    vsctl 3 -- add-br br-tr -- set bridge br-tr datapath_type=netdev \
            -- add-port br-tr t1 -- set interface t1 ofport_request=1 \
            -- add-port br-tr t2 -- set interface t2 ofport_request=2
    ofctl 3 del-flows br-tr
    ofctl 3 add-flow br-tr priority=0,actions=normal
    ofctl 3 add-flow br-tr "priority=100,udp,tp_dst=1000,psp_inner_tp_dst=$transit_port,actions=sample(probability=65535,collector_set_id=1,obs_domain_id=1,obs_point_id=1),normal"
    # An IPFIX collector in hv3 (tests/psp-ipfix-collector.py) writes the
    # data records it receives, decoded, to ipfix.records.  (In a subshell,
    # so that its end at cleanup is not reported as a job's.)
    (on 3 python3 "$src/psp/tests/psp-ipfix-collector.py" --port 4739 \
         "$work/ipfix.records" &)
    vsctl 3 -- --id=@br get bridge br-tr \
            -- --id=@i create IPFIX targets=\"127.0.0.1:4739\" \
            -- create Flow_Sample_Collector_Set id=1 bridge=@br ipfix=@i \
            >/dev/null
}

start_ovs() {
    local n=$1 d=$work/hv$1
    on "$n" ovsdb-tool create "$d/conf.db" "$src/vswitchd/vswitch.ovsschema"
    on "$n" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
        --pidfile="$d/ovsdb-server.pid" --log-file="$d/ovsdb-server.log" \
        --unixctl="$d/ovsdb-server.ctl" --detach --no-chdir -vconsole:off
    vsctl "$n" --no-wait init
    if test -n "$dpdk" -a "$n" != 3; then
        # EAL without hugepages (anonymous memory, hence legacy memory),
        # PCI or shared files, with a file prefix of its own, so that two
        # instances run side by side; the DPDK drivers are the
        # Debian package's, which EAL loads from its plugin directory.
        vsctl "$n" --no-wait set Open_vSwitch . \
            other_config:dpdk-init=true \
            other_config:dpdk-extra="--no-huge --legacy-mem -m 512 --no-pci --no-shconf --file-prefix=psp-hv$n --iova-mode=va" \
            other_config:dpdk-lcore-mask=0x1 \
            other_config:pmd-cpu-mask=$pmd_mask \
            other_config:per-port-memory=true
    fi
    # With dpdk-init=true, ovs-vswitchd exits if EAL does not start.
    if ! on "$n" ovs-vswitchd "unix:$d/db.sock" \
             --pidfile="$d/ovs-vswitchd.pid" --log-file="$d/ovs-vswitchd.log" \
             --unixctl="$d/ovs-vswitchd.ctl" --detach --no-chdir \
             -vconsole:off \
       || { test -n "$dpdk" -a "$n" != 3 \
            && test "$(vsctl "$n" get Open_vSwitch . dpdk_initialized)" != true; }; then
        test -n "$dpdk" -a "$n" != 3 || exit 1
        echo "SKIP: DPDK cannot start here: hv$n's ovs-vswitchd says:"
        grep -E 'dpdk\|(ERR|EMER|WARN)|EAL:' "$d/ovs-vswitchd.log" | tail -5 \
            | sed 's/^/    /'
        exit 77
    fi
}

# configure N psp|geneve|plain: the bridges of hypervisor N.
configure() {
    local n=$1 tun=$2 o
    o=$(other "$n")
    if test -n "$dpdk"; then
        # The veth, as a DPDK device polled by a PMD thread.
        vsctl "$n" -- add-br br-ul -- set bridge br-ul datapath_type=netdev \
                        other-config:hwaddr="$(ul_mac "$n")" \
                   -- add-port br-ul "dpdk$n" \
                   -- set interface "dpdk$n" type=dpdk \
                        options:dpdk-devargs="net_af_packet$n,iface=u$n"
    else
        vsctl "$n" -- add-br br-ul -- set bridge br-ul datapath_type=netdev \
                        other-config:hwaddr="$(ul_mac "$n")" \
                   -- add-port br-ul "u$n"
    fi
    on "$n" ip addr add "192.168.100.$n/24" dev br-ul
    on "$n" ip link set br-ul up
    # ovs-psp-keyd's TLS goes through the kernel: no ARP on the underlay.
    on "$n" ip neigh replace "192.168.100.$o" lladdr "$(ul_mac "$o")" dev br-ul
    if test "$tun" = plain; then
        # The VMs share the underlay's L2: OVS forwards, nothing else.
        vsctl "$n" add-port br-ul "vm${n}p"
        return
    fi
    vsctl "$n" -- add-br br-int -- set bridge br-int datapath_type=netdev \
               -- add-port br-int "vm${n}p" \
                    -- set interface "vm${n}p" ofport_request=1 \
               -- add-port br-int tun0 -- set interface tun0 type="$tun" \
                    ofport_request=2 options:remote_ip="192.168.100.$o" \
                    options:key=7
    # PSP: crypt offset 6 leaves the inner IPv4 header and L4 ports in
    # clear (authenticated) for the transit switch's telemetry.
    # ovs-psp-keyd exchanges the keys with the host whose certificate
    # names it hv$o.
    test "$tun" = psp && vsctl "$n" set interface tun0 options:crypt_offset=6 \
        options:remote_name="hv$o"
    ofctl "$n" del-flows br-int
    ofctl "$n" add-flow br-int in_port=1,ip,actions=output:2
    ofctl "$n" add-flow br-int "in_port=2,tun_id=7,ip,actions=mod_dl_src:$(vm_mac "$o"),mod_dl_dst:$(vm_mac "$n"),output:1"
    appctl "$n" tnl/neigh/set br-ul "192.168.100.$o" "$(ul_mac "$o")" >/dev/null
}

# keyd_appctl N CMD...: ovs-appctl to hypervisor N's ovs-psp-keyd.
keyd_appctl() { local n=$1; shift; on "$n" ovs-appctl -t ovs-psp-keyd "$@"; }

# make_pki: a CA, and for each hypervisor a certificate with CN=hvN
# (ovs-pki), configured in its Open_vSwitch row for ovs-psp-keyd.
make_pki() {
    local n
    ovs-pki --dir="$work/pki" init >"$work/pki.log" 2>&1
    for n in 1 2; do
        (cd "$work/hv$n" && ovs-pki --dir="$work/pki" -u req+sign "hv$n" switch) \
            >>"$work/pki.log" 2>&1
    done
}

# start_keyd N: ovs-psp-keyd on hypervisor N, listening on TCP port 1000
# of its namespace, talking to ovs-vswitchd over its control socket.
start_keyd() {
    local n=$1 d=$work/hv$1
    vsctl "$n" set Open_vSwitch . other_config:private_key="$d/hv$n-privkey.pem" \
        other_config:certificate="$d/hv$n-cert.pem" \
        other_config:ca_cert="$work/pki/switchca/cacert.pem"
    on "$n" ovs-psp-keyd --detach --no-chdir --pidfile --log-file \
        -vconsole:off --vswitchd="$d/ovs-vswitchd.ctl" "unix:$d/db.sock"
}

# keyd_up N [SECONDS]: waits until hypervisor N's ovs-psp-keyd says every
# peer is "up" (its SPIs installed by the peer, the peer's installed here).
keyd_up() {
    local n=$1 i
    for i in $(seq $((${2:-10} * 10))); do
        keyd_appctl "$n" keyd/show 2>/dev/null > "$work/hv$n/keyd-show.tmp" || true
        if grep -q '^peer ' "$work/hv$n/keyd-show.tmp" \
           && ! grep '^peer ' "$work/hv$n/keyd-show.tmp" | grep -qv ': up$'; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# The key exchange: ovs-psp-keyd on each side creates a PSP_Rx_SA row for
# the other (publish_key=false: ovs-vswitchd keeps the key), reads its key
# over ovs-vswitchd's control socket and sends SPI and key over mutual TLS
# to the other's ovs-psp-keyd, which installs them as its transmit SA.
exchange_sas() {
    local n
    make_pki
    for n in 1 2; do
        start_keyd "$n"
    done
    for n in 1 2; do
        if ! keyd_up "$n" 20; then
            echo "psp-hosts: hv$n's ovs-psp-keyd is not up:" >&2
            keyd_appctl "$n" keyd/show >&2 || true
            return 1
        fi
    done
    keyd_appctl 1 keyd/show | sed 's/^/    /'
    collect_keys
}

# collect_keys: notes in $work/keys the key of every receive SPI (spi and
# old_spi of each PSP_Rx_SA row) of both hypervisors, read with the
# root-only psp/rx-key, for key_search.  The other side's transmit keys
# are the same keys.
collect_keys() {
    local n spi
    for n in 1 2; do
        keyring "$n" 2>/dev/null | tr ' ' '\n' >> "$work/keys" || true
        for spi in $(vsctl "$n" --bare --columns=spi,old_spi list PSP_Rx_SA); do
            grep -qx "$n $spi" "$work/spis" 2>/dev/null && continue
            if appctl "$n" psp/rx-key "$spi" >> "$work/keys" 2>/dev/null; then
                echo "$n $spi" >> "$work/spis"
            fi
        done
    done
}

setup() {
    local tun=$1 n
    make_hosts
    start_ovs 3
    configure_transit
    for n in 1 2; do
        start_ovs "$n"
        configure "$n" "$tun"
    done
    test "$tun" = psp && exchange_sas
    # Wait until OVS has its routes and the VMs reach each other.
    for n in $(seq 50); do
        vm 1 ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "psp-hosts: vm1 cannot reach vm2 over $tun" >&2
    return 1
}

start_capture() {
    on 2 tcpdump -i u2 -s 0 -U -w "$work/underlay.pcap" 2>"$work/tcpdump.log" &
    echo $! > "$work/tcpdump.pid"
    for _ in $(seq 50); do
        grep -q listening "$work/tcpdump.log" 2>/dev/null && return
        sleep 0.1
    done
}

stop_capture() {
    sleep 0.5
    kill "$(cat "$work/tcpdump.pid")"
    wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
    rm -f "$work/tcpdump.pid"
}

# tcp_sink PORT OUT: in the background, receives one TCP connection on
# vm2's PORT and writes "BYTES SHA256 MAX_GAP" to OUT: what arrived, and the
# longest gap between two receives, in seconds.  Sets $sink to its pid.
tcp_sink() {
    vm 2 timeout 120 python3 -c '
import hashlib, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.2", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
h, n, gap = hashlib.sha256(), 0, 0.0
last = time.monotonic()
while True:
    d = c.recv(65536)
    if not d:
        break
    now = time.monotonic()
    gap, last = max(gap, now - last), now
    h.update(d)
    n += len(d)
print(n, h.hexdigest(), "%.3f" % gap)' "$1" > "$2" &
    sink=$!
    sleep 0.5
}

# tcp_transfer: sends $data_mb MB of random bytes from vm1 to vm2 over TCP
# and prints the SHA-256 of what was sent and of what was received.
tcp_transfer() {
    head -c $((data_mb * 1048576)) /dev/urandom > "$work/data"
    tcp_sink 5001 "$work/received"
    vm 1 timeout 120 python3 -c '
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("10.0.0.2", 5001))
s.sendall(data)
s.close()' "$work/data"
    wait $sink
    echo "sent:     $(stat -c %s "$work/data") $(sha256sum < "$work/data" | cut -d' ' -f1)"
    echo "received: $(cut -d' ' -f1-2 "$work/received")"
}

# payload_leaks PCAP DATA: counts 32-byte pieces of DATA, taken every
# 64 KiB, that appear in PCAP.
payload_leaks() {
    python3 -c '
import sys
cap = open(sys.argv[1], "rb").read()
data = open(sys.argv[2], "rb").read()
print(sum(1 for i in range(0, len(data) - 32, 65536)
          if data[i:i + 32] in cap))' "$1" "$2"
}

run_traffic() {
    start_capture
    echo "--- ping vm1 -> vm2"
    vm 1 ping -c 3 -i 0.2 10.0.0.2
    echo "--- ${data_mb} MB over TCP, vm1 -> vm2"
    tcp_transfer | tee "$work/transfer"
    stop_capture
}

start_agent() {
    local n=$1 d=$work/hv$1
    on "$n" ovs-psp-agent "unix:$d/db.sock" --pidfile="$d/ovs-psp-agent.pid" \
        --log-file="$d/ovs-psp-agent.log" --unixctl="$d/ovs-psp-agent.ctl" \
        --detach --no-chdir -vconsole:off
}

# collect_loop: while the keys rotate, collects the key of each new SPI
# (collect_keys) until $work/collect.stop exists.  It only reads: the
# re-keying is ovs-psp-keyd's.
collect_loop() {
    while ! test -f "$work/collect.stop"; do
        collect_keys
        sleep 0.3
    done
}

# tcp_stream SECONDS: vm1 sends random bytes to vm2 over one TCP connection
# for SECONDS, at about 10 MB/s.  Prints "sent: BYTES SHA256 MAX_BLOCK" and
# "received: BYTES SHA256 MAX_GAP": the longest a send blocked and the
# longest gap between two receives, in seconds.
tcp_stream() {
    tcp_sink 5002 "$work/stream-received"
    vm 1 timeout 120 python3 -c '
import hashlib, os, socket, sys, time
end = time.monotonic() + float(sys.argv[1])
s = socket.create_connection(("10.0.0.2", 5002))
h, n, block = hashlib.sha256(), 0, 0.0
while time.monotonic() < end:
    d = os.urandom(65536)
    t = time.monotonic()
    s.sendall(d)
    block = max(block, time.monotonic() - t)
    h.update(d)
    n += len(d)
    time.sleep(0.005)
s.close()
print(n, h.hexdigest(), "%.3f" % block)' "$1" > "$work/stream-sent"
    wait $sink
    echo "sent:     $(cat "$work/stream-sent")"
    echo "received: $(cat "$work/stream-received")"
}

# key_search [--pieces] KEYS FILE...: how many of the keys in KEYS (a file
# of master and SA keys in hexadecimal) each FILE holds, in hexadecimal
# (either case) or in binary.  Prints "FILE: N (hex H, binary B)".  With
# --pieces, counts instead the 8-byte pieces of the keys (at 4-byte steps)
# that each FILE holds, and prints "FILE: N".
key_search() {
    python3 -c '
import sys
args = sys.argv[1:]
pieces = args[0] == "--pieces"
if pieces:
    args = args[1:]
keys = set()
for line in open(args[0]):
    for word in line.split():
        if len(word) in (32, 64):
            k = bytes.fromhex(word)
            if pieces:
                keys.update(k[i:i + 8] for i in range(0, len(k) - 7, 4))
            else:
                keys.add(k)
for name in args[1:]:
    data = open(name, "rb").read()
    hx = {k for k in keys if k.hex().encode() in data
                             or k.hex().upper().encode() in data}
    bn = {k for k in keys if k in data}
    if pieces:
        print("%s: %d" % (name, len(hx | bn)))
    else:
        print("%s: %d (hex %d, binary %d)"
              % (name, len(hx | bn), len(hx), len(bn)))
' "$@"
}

# rotation_checks: continuous TCP from vm1 to vm2 while ovs-psp-agent
# rotates both hypervisors' master keys every 3 seconds and ovs-psp-keyd
# re-keys the SAs each rotation marks.
rotation_checks() {
    local n secs=16
    echo
    echo "=== rotations: ovs-psp-agent on both hypervisors (interval 3 s),"
    echo "    ovs-psp-keyd re-keys, TCP vm1 -> vm2 for $secs s"
    for n in 1 2; do
        vsctl "$n" set PSP . rotation_policy:interval=3
        start_agent "$n"
    done
    collect_loop > "$work/collect.log" 2>&1 &
    echo $! > "$work/collect.pid"
    tcp_stream $secs | tee "$work/stream"
    # The last rotation's re-keys complete.
    sleep 1
    touch "$work/collect.stop"
    wait "$(cat "$work/collect.pid")" || true
    rm -f "$work/collect.pid"
    collect_keys
    for n in 1 2; do
        echo "--- hv$n: ovs-psp-keyd's re-keys"
        grep -h 're-keying\|installed' "$work/hv$n/ovs-psp-keyd.log" \
            | sed 's/^\([^|]*\)|[^|]*|[^|]*|[^|]*|/\1 /' | tail -8
    done
    for n in 1 2; do
        echo "--- hv$n: ovs-appctl -t ovs-psp-agent psp-agent/show"
        on "$n" ovs-appctl --target="$work/hv$n/ovs-psp-agent.ctl" \
            psp-agent/show
    done

    echo
    echo "=== checks across rotations"
    stream_field() {
        sed -n "s/^$1: *//p" "$work/stream" | cut -d' ' -f"$2"
    }
    check "the stream arrives intact across the rotations ($(stream_field sent 1) bytes)" \
        test "$(stream_field sent 1-2)" = "$(stream_field received 1-2)"
    check "the stream moved data ($(stream_field received 1) bytes)" \
        test "$(stream_field received 1)" -gt 50000000
    check "no receive gap over 1 s ($(stream_field received 3) s)" \
        python3 -c "import sys; sys.exit(float('$(stream_field received 3)') >= 1.0)"
    check "no send blocked over 1 s ($(stream_field sent 3) s)" \
        python3 -c "import sys; sys.exit(float('$(stream_field sent 3)') >= 1.0)"
    for n in 1 2; do
        local rot rekeys spis stale o
        o=$(other "$n")
        rot=$(vsctl "$n" get PSP . status:rotations | tr -d '"')
        rekeys=$(grep -c "re-keying SPI" "$work/hv$n/ovs-psp-keyd.log" || true)
        spis=$(grep -c "^$n " "$work/spis" || true)
        check "hv$n rotated at least 3 times ($rot)" test "$rot" -ge 3
        # Each rotation marks the receive SA "rekey", and ovs-psp-keyd
        # re-keys it at once: as many re-keys as rotations (the first
        # rotation may have come before the SA existed).
        check "hv$n's receive SA was re-keyed by ovs-psp-keyd after each rotation ($rekeys re-keys, $rot rotations)" \
            test "$rekeys" -ge 3 -a "$rekeys" -ge $((rot - 1))
        check "hv$n's receive SPI changed with each re-key ($spis SPIs seen)" \
            test "$spis" -gt "$rekeys" -o "$spis" -ge 4
        stale=$(vsctl "$n" --bare --columns=_uuid find PSP_Rx_SA \
                    status:state=stale | wc -w)
        check "hv$n: nothing stale (no stale PSP_Rx_SA, no stale re-key, no stale SA)" \
            eval "test $stale = 0 && ! grep -q '(stale)' '$work/hv$n/ovs-psp-keyd.log' && ! appctl $n psp/show | grep -q ' stale'"
        check "hv$n: no PSP drops (no stale SPI, no failed tag)" \
            eval "! appctl $n psp/show | grep -q '^  drops'"
        check "hv$n: the agent never had to force a rotation" \
            eval "! grep -qi forc '$work/hv$n/ovs-psp-agent.log'"
        check "hv$n: ovs-psp-keyd says its peer is up" keyd_up "$n" 5
        check "hv$n: its transmit SPI is hv$o's current receive SPI" \
            tx_matches "$n" "$o"
    done
    echo "--- hv1: ovs-appctl -t ovs-psp-keyd keyd/show"
    keyd_appctl 1 keyd/show
}

# tx_matches N O: hypervisor N's transmit SA to O has O's receive SPI.
tx_matches() {
    local spi
    spi=$(vsctl "$2" --bare --columns=spi list PSP_Rx_SA | head -1)
    test -n "$spi" && appctl "$1" psp/show \
        | grep -q "remote=192.168.100.$2 .*spi=$(printf 0x%08x "$spi")"
}

# key_checks: no key in the database files, logs, and what ovs-appctl shows
# (datapath flows, a trace of the encapsulation, coverage, PSP state), and
# no master key in a core dump of ovs-vswitchd.
key_checks() {
    local n f
    echo
    collect_keys
    echo "=== keys: $(sort -u "$work/keys" | wc -w) SA keys (psp/rx-key of each"
    echo "    receive SPI used, the peers' transmit keys); searched for in hex"
    echo "    and binary"
    for n in 1 2; do
        appctl "$n" dpctl/dump-flows -m > "$work/hv$n/dump-flows.out"
        appctl "$n" ofproto/trace br-int \
            in_port=1,ip,nw_src=10.0.0.$n,nw_dst=10.0.0.$(other "$n") \
            > "$work/hv$n/trace.out"
        appctl "$n" coverage/show > "$work/hv$n/coverage.out"
        appctl "$n" psp/show > "$work/hv$n/psp-show.out"
        appctl "$n" memory/show > "$work/hv$n/memory.out"
        on "$n" ovsdb-client dump "unix:$work/hv$n/db.sock" \
            > "$work/hv$n/ovsdb-dump.out"
        keyd_appctl "$n" keyd/show > "$work/hv$n/keyd-show.out" 2>&1 || true
    done
    key_search "$work/keys" "$work"/hv?/conf.db "$work"/hv?/*.log \
        "$work"/hv?/*.out > "$work/key-search"
    sed "s|$work/||" "$work/key-search"
    check "the trace shows the PSP encapsulation it searched" \
        grep -q 'tnl_push.*psp' "$work/hv1/trace.out"
    check "the keys searched for were collected ($(sort -u "$work/keys" | wc -w))" \
        test "$(sort -u "$work/keys" | wc -w)" -ge 8
    check "no key in database files, ovsdb-client dump, logs or ovs-appctl output" \
        test "$(grep -vc ': 0 ' "$work/key-search")" = 0
    for n in 1 2; do
        check "hv$n: PSP_Rx_SA's sa_key is empty in every row" \
            test -z "$(vsctl "$n" --bare --columns=sa_key list PSP_Rx_SA)"
        check "hv$n: PSP's master_keys is empty (key_store $(vsctl "$n" get PSP . status:key_store 2>/dev/null | tr -d '"'))" \
            test "$(vsctl "$n" get PSP . master_keys)" = "{}"
    done
    # The agents stop rotating first, so that the dump does not catch keys
    # on their way to the database.
    for n in 1 2; do
        on "$n" ovs-appctl --target="$work/hv$n/ovs-psp-agent.ctl" exit \
            2>/dev/null || true
    done
    sleep 1
    # Key memory (master keys, SAs, OpenSSL's cipher contexts) is marked
    # MADV_DONTDUMP; what passes through the database connections is wiped
    # once used.  So a core dump of ovs-vswitchd holds none of the keys,
    # whole or in 8-byte pieces.
    check "gcore is there to dump a core (package gdb)" \
        eval "command -v gcore >/dev/null"
    gcore -o "$work/core" "$(cat "$work/hv1/ovs-vswitchd.pid")" \
        >/dev/null 2>&1 || true
    f=$(ls "$work"/core.* 2>/dev/null | head -1)
    : > "$work/core-keys"
    : > "$work/core-pieces"
    if test -n "$f"; then
        key_search "$work/keys" "$f" > "$work/core-keys"
        key_search --pieces "$work/keys" "$f" | sed 's/.*: //' \
            > "$work/core-pieces"
        echo "--- in a core dump of hv1's ovs-vswitchd (gcore), of all $(sort -u "$work/keys" | wc -w) keys:"
        echo "    $(sed 's/.*: //' "$work/core-keys") whole, $(cat "$work/core-pieces") 8-byte pieces"
        rm -f "$f"
    fi
    check "a core dump of ovs-vswitchd holds no key, in hex or binary" \
        grep -q ': 0 (hex 0, binary 0)' "$work/core-keys"
    check "nor any 8-byte piece of a key" \
        test "$(cat "$work/core-pieces")" = 0
    # ovs-psp-keyd holds the transmit keys it installed, and passes keys
    # through its TLS sessions.
    gcore -o "$work/keyd-core" "$(cat "$work/hv1/ovs-psp-keyd.pid")" \
        >/dev/null 2>&1 || true
    f=$(ls "$work"/keyd-core.* 2>/dev/null | head -1)
    : > "$work/keyd-core-keys"
    if test -n "$f"; then
        key_search "$work/keys" "$f" > "$work/keyd-core-keys"
        echo "--- in a core dump of hv1's ovs-psp-keyd: $(sed 's/.*: //' "$work/keyd-core-keys")"
        rm -f "$f"
    fi
    check "a core dump of ovs-psp-keyd holds no key, in hex or binary" \
        grep -q ': 0 (hex 0, binary 0)' "$work/keyd-core-keys"
    rm -f "$work/keys"
}

failures=0
# The transit switch's telemetry: its flow on the inner port counted exactly
# the PSP packets of the 10 MB transfer that the underlay capture holds (by
# their readable inner ports), none of the other traffic (the reverse
# direction, the ping), and the IPFIX collector got a sample of each.
transit_checks() {
    local flow seen records psp_records
    appctl 3 revalidator/wait
    flow=$(ofctl 3 dump-flows br-tr \
               | sed -n "/psp_inner_tp_dst=$transit_port/s/.*n_packets=\([0-9]*\),.*/\1/p")
    seen=$("$build/tests/ovstest" test-psp visible "$work/underlay.pcap" \
               | grep -c ">$transit_port\$" || true)
    # The records of the flow's samples (observation point 1), and of those
    # the ones that carry the PSP fields of a TCP packet to the port.
    for _ in $(seq 50); do
        records=$(grep -c 'observationPointId=1 ' "$work/ipfix.records" 2>/dev/null)
        test "${records:-0}" -ge "$seen" && break
        sleep 0.1
    done
    psp_records=$(grep 'observationPointId=1 ' "$work/ipfix.records" \
                      | grep 'pspSpi=0x[0-9a-f]\{8\} ' \
                      | grep 'pspVisible=13 ' \
                      | grep 'pspInnerProtocolIdentifier=6 ' \
                      | grep -c "pspInnerDestinationTransportPort=$transit_port " || true)
    echo "transit: flow on psp_inner_tp_dst=$transit_port counted $flow," \
         "the capture holds $seen such packets, IPFIX got $records samples," \
         "$psp_records with the SPI and inner protocol and port"
    check "the transit switch sees the transfer's inner port ($seen packets)" \
        test "$seen" -gt 7000
    check "its flow on that port counted exactly those packets" \
        test "$flow" = "$seen"
    check "IPFIX received a sample of each (at least 99%)" \
        test "$((records * 100))" -ge "$((seen * 99))" -a "$records" -le "$seen"
    check "every IPFIX record carries the SPI and the inner TCP port" \
        test "$psp_records" = "$records"
}

# With DPDK: the underlay ports are DPDK devices, and PMD threads moved the
# traffic: hv2's received the transfer, hv1's the ACKs.
dpdk_checks() {
    local n rx least
    for n in 1 2; do
        least=$((n == 2 ? 7000 : 100))
        check "hv$n's underlay port is a DPDK net_af_packet device" \
            test "$(vsctl "$n" get interface "dpdk$n" status:driver_name \
                    | tr -d '"')" = net_af_packet
        rx=$(appctl "$n" dpif-netdev/pmd-stats-show \
                 | sed -n 's/^ *packets received: *//p' | head -1)
        echo "hv$n: its PMD thread received ${rx:-0} packets"
        check "hv$n's PMD thread received the traffic (over $least packets)" \
            test "${rx:-0}" -gt "$least"
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

case $mode in
demo|check|check-dpdk)
    trap cleanup EXIT
    tunnel=${PSP_HOSTS_TUNNEL:-psp}
    echo "=== two hypervisors, userspace datapath, $tunnel between them"
    setup "$tunnel"
    for n in 1 2; do
        echo "--- hv$n: ovs-vsctl show (psp0 is interface tun0)"
        vsctl "$n" show | sed -n '/Bridge br-int/,$p'
    done
    run_traffic
    echo
    echo "=== counters"
    for n in 1 2; do
        echo "--- hv$n: ovs-appctl psp/show"
        appctl "$n" psp/show
    done
    vsctl 2 --timeout=10 wait-until interface tun0 \
        'statistics:psp_rx_packets>7000' >/dev/null 2>&1 || true
    echo "--- hv3, the transit switch: its flows (the PSP packets to inner port"
    echo "    $transit_port are sampled to IPFIX without being decrypted)"
    ofctl 3 dump-flows br-tr | sed 's/ duration=[^,]*,//; s/ idle_age=[^,]*,//' | grep -v '^NXST'
    echo "--- hv3's IPFIX collector: the PSP elements of the last record"
    grep 'observationPointId=1 ' "$work/ipfix.records" 2>/dev/null \
        | tail -1 | tr ' ' '\n' \
        | grep -E '^(sourceIPv4Address|destinationIPv4Address|destinationTransportPort|psp)' \
        | sed 's/^/    /'
    echo "--- hv2: ovs-vsctl get interface tun0 statistics"
    vsctl 2 get interface tun0 statistics | tr ',' '\n' | tr -d ' {}' \
        | grep psp_ || true
    echo
    echo "=== the underlay, as captured on hv2's veth"
    total=$(tcpdump -nn -r "$work/underlay.pcap" 2>/dev/null | wc -l)
    # ovs-psp-keyd's TLS sessions run on TCP port 1000: not PSP, and
    # counted apart.
    other_pkts=$(tcpdump -nn -r "$work/underlay.pcap" \
                     'not (udp dst port 1000) and not (tcp port 1000)' \
                     2>/dev/null | wc -l)
    keyd_pkts=$(tcpdump -nn -r "$work/underlay.pcap" 'tcp port 1000' \
                    2>/dev/null | wc -l)
    leaks=$(payload_leaks "$work/underlay.pcap" "$work/data")
    tcpdump -nn -r "$work/underlay.pcap" -c 4 2>/dev/null
    echo "--- one packet in full: UDP to port 1000; the PSP header (next"
    echo "    header, crypt offset, version, SPI, IV) and then only ciphertext"
    tcpdump -nn -X -r "$work/underlay.pcap" -c 1 'greater 1000' 2>/dev/null \
        | head -12
    echo "--- $total packets captured, $keyd_pkts of ovs-psp-keyd's TLS (TCP port 1000),"
    echo "    $other_pkts neither those nor to UDP port 1000;" \
         "$leaks of the sent data's 32-byte samples found in the capture"
    if test "$mode" != demo; then
        echo
        echo "=== checks"
        sums_match() {
            test "$(sed -n 's/^sent: *//p' "$work/transfer")" \
                 = "$(sed -n 's/^received: *//p' "$work/transfer")"
        }
        check "10 MB over TCP arrive intact (size and SHA-256)" sums_match
        check "the capture holds traffic ($total packets)" test "$total" -gt 7000
        check "every packet on the underlay is UDP to port 1000 (or keyd's TLS on TCP port 1000)" \
            test "$other_pkts" = 0
        check "none of the payload is on the wire" test "$leaks" = 0
        dropped() {
            appctl "$1" psp/show | grep -q '^  drops'
        }
        check "no PSP drops on hv1" eval '! dropped 1'
        check "no PSP drops on hv2" eval '! dropped 2'
        check "hv2's tun0 statistics count what it decrypted" \
            test "$(vsctl 2 get interface tun0 statistics:psp_rx_packets)" -gt 7000
        test "$tunnel" = psp && transit_checks
        if test -n "$dpdk"; then
            dpdk_checks
        else
            rotation_checks
            key_checks
        fi
        echo "psp-hosts: $failures checks failed"
        test $failures = 0
    fi
    ;;
check-bigmtu)
    # The VMs' ports on the hypervisors go to MTU 65535 while a TCP stream
    # runs through the psp ports: netdev-linux then receives into buffers of
    # 65,553 bytes, more than a dp_packet records.  On a sanitizer build,
    # any read or write out of bounds ends ovs-vswitchd with a report in
    # $work/sanitizer.*.
    trap cleanup EXIT
    export ASAN_OPTIONS="detect_leaks=0:log_path=$work.sanitizer"
    export UBSAN_OPTIONS="print_stacktrace=1:log_path=$work.sanitizer"
    rm -f "$work".sanitizer.*
    echo "=== two hypervisors, PSP, the VMs' ports at MTU 65535 under traffic"
    setup psp
    start_capture
    stream=$src/psp/tests/system/psp-tcp-stream.py
    vm 2 timeout 60 python3 "$stream" recv 10.0.0.2 5002 \
        > "$work/stream-received" &
    sink=$!
    sleep 0.5
    vm 1 timeout 60 python3 "$stream" send 10.0.0.2 5002 6 \
        > "$work/stream-sent" &
    sender=$!
    sleep 1
    for n in 1 2; do
        on "$n" ip link set "vm${n}p" mtu 65535
        vm "$n" ip link set eth0 mtu 65535
    done
    echo "--- vm1p and vm2p (and the VMs' eth0) now have MTU 65535"
    wait $sender || true
    wait $sink || true
    echo "sent:     $(cat "$work/stream-sent")"
    echo "received: $(cat "$work/stream-received")"
    # Whole IP packets of 20,028, 65,028 and 65,508 bytes from the VM: the
    # first two fit the tunnel's 16-bit lengths once encrypted (60 bytes
    # more) but not the 1500-byte underlay, the last does not fit at all.
    # All are dropped before sealing, and counted.
    echo "--- ping vm1 -> vm2 with packets of 20028, 65028 and 65508 bytes"
    vm 1 ping -c 2 -i 0.2 -W 1 -M do -s 20000 10.0.0.2 || true
    vm 1 ping -c 2 -i 0.2 -W 1 -M do -s 65000 10.0.0.2 || true
    vm 1 ping -c 2 -i 0.2 -W 1 -M do -s 65480 10.0.0.2 || true
    echo "--- ping vm1 -> vm2 with 1000-byte packets"
    vm 1 ping -c 3 -i 0.2 -W 2 -s 1000 10.0.0.2 | tail -2 > "$work/small-ping" \
        || true
    cat "$work/small-ping"
    stop_capture
    echo "--- hv1: ovs-appctl psp/show"
    appctl 1 psp/show | sed -n '/^counters/,/^ports/p' | grep -v '^ports' \
        || true
    other_pkts=$(tcpdump -nn -r "$work/underlay.pcap" \
                     'not (udp dst port 1000) and not (tcp port 1000)' \
                     2>/dev/null | wc -l)
    echo
    echo "=== checks"
    alive() {
        kill -0 "$(cat "$work/hv$1/ovs-vswitchd.pid")" 2>/dev/null
    }
    stream_intact() {
        test -s "$work/stream-sent" \
            && test "$(cat "$work/stream-sent")" \
                    = "$(cat "$work/stream-received")"
    }
    check "MTU 65535: the TCP stream arrives intact (size and SHA-256)" \
        stream_intact
    check "MTU 65535: hv1's ovs-vswitchd is running" alive 1
    check "MTU 65535: hv2's ovs-vswitchd is running" alive 2
    check "MTU 65535: no sanitizer report" \
        eval '! cat "$work".sanitizer.* 2>/dev/null | grep -q .'
    check "MTU 65535: 1000-byte pings still pass" \
        grep -q ' 0% packet loss' "$work/small-ping"
    too_big=$(appctl 1 psp/show | sed -n 's/^  drops tx-too-big=//p' || true)
    check "MTU 65535: packets too big to encrypt are dropped and counted (${too_big:-0})" \
        test "${too_big:-0}" -ge 6
    check "MTU 65535: every packet on the underlay is UDP to port 1000" \
        test "$other_pkts" = 0
    cat "$work".sanitizer.* 2>/dev/null | head -40 || true
    echo "psp-hosts: $failures checks failed"
    test $failures = 0
    ;;
bench)
    trap cleanup EXIT
    echo "TCP throughput vm1 -> vm2 (iperf3, 10 s, one stream), same topology:"
    for tun in plain geneve psp; do
        setup "$tun" >/dev/null
        vm 2 iperf3 -s -1 -D -B 10.0.0.2 >/dev/null
        sleep 0.5
        gbps=$(vm 1 iperf3 -c 10.0.0.2 -t 10 -J \
                 | python3 -c 'import json, sys
print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
        echo "$tun $gbps" >> "$work/../psp-bench.$$"
        printf '  %-7s %s Gbit/s\n' "$tun" "$gbps"
    done
    awk '{g[$1] = $2} END {
        printf "  psp/geneve %.2f, psp/plain %.2f, geneve/plain %.2f\n",
               g["psp"] / g["geneve"], g["psp"] / g["plain"],
               g["geneve"] / g["plain"]}' "$work/../psp-bench.$$"
    rm -f "$work/../psp-bench.$$"
    ;;
*)
    echo "usage: $0 OVS_BUILD_DIR demo|check|check-dpdk|check-bigmtu|bench" >&2
    exit 2
    ;;
esac
