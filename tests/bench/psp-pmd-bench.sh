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

# psp-pmd-bench.sh: the datapath in one PMD thread, with DPDK ports.
#
# Usage: psp-pmd-bench.sh OVS_BUILD_DIR [SECONDS]
#
# One ovs-vswitchd built --with-dpdk (EAL without hugepages or PCI), in a
# network namespace of its own, with one PMD thread on one core.  Its ports
# are DPDK virtual devices: a net_pcap device that replays a capture
# forever (infinite_rx), so that the PMD thread always has packets, and
# net_null devices that take what is sent and drop it.  For each inner
# packet size (the VM's Ethernet frame: 64, 512 and 1400 bytes) it runs,
# for SECONDS (default 3) each:
#   plain         VM port to another port, no tunnel
#   geneve-encap  VM port to a Geneve tunnel (tnl_push)
#   psp-encap     VM port to a psp tunnel (tnl_push with AES-GCM-128 seal)
#   geneve-decap  Geneve packets from the underlay (tnl_pop) to a port
#   psp-decap     PSP packets from the underlay (tnl_pop with AES-GCM open)
#   xp-encrypt VM port to a port through psp_encrypt (transport mode)
#   xp-decrypt transport-mode PSP through psp_decrypt(table=1) to a port
# and prints the PMD thread's figures from dpif-netdev/pmd-stats-show:
# packets per second and Gbit/s of inner frames, and processing cycles
# (and ns) per packet.  Then, per size, what PSP costs over Geneve
# (encap + decap), against raw OpenSSL AES-GCM seal + open of the same
# bytes (ovs-psp-bench --raw, same run), and whether it meets the target:
# no more than raw AES-GCM plus 100 ns per packet.
#
# PSP_BENCH_PERF=PATH-SIZE (psp-decap-1400, say) records that run's PMD
# thread with perf and prints its top symbols at the end.
#
# Each run checks that its packets went where they should (the output
# port's counter grew, PSP counted no errors) and stops if not.  Exit 77,
# with the reason, if DPDK cannot start here.  Run as root.

set -e -o pipefail

build=$(cd "$1" && pwd)
secs=${2:-3}
work=${PSP_BENCH_DIR:-/tmp/ovs-psp-pmd-bench}
ns=psp-pmd-bench
sizes="64 512 1400"
if test -z "$PSP_KEYS"; then
    python3 "$(dirname "$0")/../psp-make-vectors.py" "$work.vectors" 2>/dev/null \
        || test -d "$work.vectors"
    PSP_KEYS=$work.vectors/keys/master_keys.cfg
fi
keys_file=$PSP_KEYS
PATH=$build/utilities:$build/vswitchd:$build/ovsdb:$PATH

on() { ip netns exec "$ns" env OVS_RUNDIR="$work" OVS_LOGDIR="$work" \
           OVS_DBDIR="$work" OVS_SYSCONFDIR="$work" "$@"; }
vsctl() { on ovs-vsctl --db="unix:$work/db.sock" "$@"; }
appctl() { on ovs-appctl --target="$work/ovs-vswitchd.ctl" "$@"; }
ofctl() { on ovs-ofctl "$@"; }

cleanup() {
    local pid
    for pid in "$work/ovs-vswitchd.pid" "$work/ovsdb-server.pid"; do
        test -f "$pid" && kill "$(cat "$pid")" 2>/dev/null || true
    done
    sleep 0.5
    ip netns del "$ns" 2>/dev/null || true
}

die() { echo "psp-pmd-bench: $*" >&2; exit 1; }

# The captures: the VM's frames, and the same frames as Geneve and as PSP
# (tunnel mode, AES-GCM-128) from the peer 10.0.0.1 to this host 10.0.0.2.
make_pcaps() {
    local size
    python3 - "$work" $sizes <<'EOF'
import struct, sys

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ipv4_udp(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000,
                     64, 17, 0, bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + udp

def frame(dst, src, ip):
    return bytes(dst) + bytes(src) + b"\x08\x00" + ip

def write(name, frames):
    with open(name, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)

work = sys.argv[1]
peer_mac, host_mac = [0, 0x22, 0x33, 0x44, 0x55, 0], [0, 0x88, 0x99, 0xaa, 0xbb, 0]
vm_mac, vm2_mac = [2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]
for size in map(int, sys.argv[2:]):
    # 8 flows (source ports), so that RSS-like spreading is not a factor but
    # the EMC sees more than one entry.
    vm = [frame(vm2_mac, vm_mac,
                ipv4_udp([10, 1, 0, 1], [10, 1, 0, 2], 1000 + i, 5001,
                         bytes(size - 42)))
          for i in range(8)]
    write("%s/vm-%d.pcap" % (work, size), vm)
    geneve = [frame(host_mac, peer_mac,
                    ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 40000 + i, 6081,
                             struct.pack("!BBHI", 0, 0, 0x6558, 7 << 8) + f))
              for i, f in enumerate(vm)]
    write("%s/geneve-%d.pcap" % (work, size), geneve)
    # The PSP input: frames whose inner IP packet has the VM frame's IP
    # length; ovs-psp-pcap encrypts them in tunnel mode with the same
    # outer addresses.
    clear = [frame(host_mac, peer_mac,
                   ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1000 + i, 5001,
                            bytes(size - 42)))
             for i in range(8)]
    write("%s/clear-%d.pcap" % (work, size), clear)
EOF
    for size in $sizes; do
        ovs-psp-pcap encrypt --master-keys "$keys_file" --spi 9A345678 \
            --version 0 --mode tunnel "$work/clear-$size.pcap" \
            "$work/psp-$size.pcap" 2>/dev/null
        # Transport mode: the VM's frames themselves, encrypted.
        ovs-psp-pcap encrypt --master-keys "$keys_file" --spi 9a345679 \
            --version 0 --mode transport "$work/vm-$size.pcap" \
            "$work/xport-$size.pcap" 2>/dev/null
    done
}

start_ovs() {
    on ovsdb-tool create "$work/conf.db" \
        "$build/../src/vswitchd/vswitch.ovsschema"
    on ovsdb-server "$work/conf.db" --remote="punix:$work/db.sock" \
        --pidfile="$work/ovsdb-server.pid" --log-file="$work/ovsdb-server.log" \
        --unixctl="$work/ovsdb-server.ctl" --detach --no-chdir -vconsole:off
    vsctl --no-wait init
    vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
        other_config:dpdk-extra="--no-huge --legacy-mem -m 1024 --no-pci --no-shconf --file-prefix=psp-bench --iova-mode=va" \
        other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask="$pmd_mask" \
        other_config:per-port-memory=true
    # --enable-dummy, for the testsuite's psp/test-* commands, which load
    # the master keys the PSP captures were sealed under (and adds the dummy
    # port types, which this does not use).  With dpdk-init=true,
    # ovs-vswitchd exits if EAL does not start.
    if ! on ovs-vswitchd "unix:$work/db.sock" --enable-dummy \
             --pidfile="$work/ovs-vswitchd.pid" \
             --log-file="$work/ovs-vswitchd.log" \
             --unixctl="$work/ovs-vswitchd.ctl" --detach --no-chdir \
             -vconsole:off 2>/dev/null \
       || test "$(vsctl get Open_vSwitch . dpdk_initialized)" != true; then
        echo "SKIP: DPDK cannot start here; ovs-vswitchd says:"
        grep -E 'dpdk\|(ERR|EMER|WARN)|EAL:' "$work/ovs-vswitchd.log" \
            | tail -5 | sed 's/^/    /'
        exit 77
    fi
}

configure() {
    vsctl -- add-br br-ul -- set bridge br-ul datapath_type=netdev \
                other-config:hwaddr=00:88:99:aa:bb:00 \
          -- add-br br-int -- set bridge br-int datapath_type=netdev \
          -- add-port br-int gnv0 -- set interface gnv0 type=geneve \
                ofport_request=10 options:remote_ip=10.0.0.1 options:key=7 \
          -- add-port br-int psp0 -- set interface psp0 type=psp \
                ofport_request=11 options:remote_ip=10.0.0.1 options:key=7
    on ip link set lo up
    on ip addr add 10.0.0.2/24 dev br-ul
    on ip link set br-ul up
    appctl tnl/neigh/set br-ul 10.0.0.1 00:22:33:44:55:00 >/dev/null
    # Transmit: an SA for the peer.  Receive: the master keys the captures
    # were sealed under, and the SPI bound to the peer and association.
    local k
    k=$(sed 's/#.*//' "$keys_file" | tr -d ' \n')
    appctl psp/test-set-master-keys "${k:0:64}" "${k:64:64}" >/dev/null
    appctl psp/test-bind-spi 9a345678 10.0.0.1 7 0 >/dev/null
    appctl psp/test-bind-spi 9a345679 10.1.0.1 7 0 >/dev/null
    appctl psp/add-sa 10.1.0.2 7 9a345679 0 \
        "$(ovs-psp-pcap derive --master-keys "$keys_file" --spi 9a345679 --version 0)" \
        >/dev/null
    appctl psp/add-sa 10.0.0.1 7 9a345678 0 \
        "$(ovs-psp-pcap derive --master-keys "$keys_file" --spi 9a345678 --version 0)" \
        >/dev/null
    ofctl del-flows br-int
}

# ports VM_DEVARGS UL_DEVARGS: (re)creates the DPDK ports: vm (ofport 1)
# and sink (ofport 2) on br-int, ul on br-ul.  "@N@" in the devargs
# becomes a number of its own, so that each device has a new name.
n_dev=0
ports() {
    n_dev=$((n_dev + 1))
    vsctl -- --if-exists del-port vm -- --if-exists del-port sink \
          -- --if-exists del-port ul
    vsctl -- add-port br-int vm -- set interface vm type=dpdk ofport_request=1 \
                options:dpdk-devargs="${1//@N@/$n_dev}" \
          -- add-port br-int sink -- set interface sink type=dpdk \
                ofport_request=2 \
                options:dpdk-devargs="net_null_s$n_dev,no-rx=1" \
          -- add-port br-ul ul -- set interface ul type=dpdk \
                options:dpdk-devargs="${2//@N@/$n_dev}"
    local p
    for p in vm sink ul; do
        test "$(vsctl get interface $p ofport)" -gt 0 \
            || die "port $p: $(vsctl get interface $p error)"
    done
}

# tx_packets BRIDGE PORT: what OpenFlow says PORT sent.
tx_packets() {
    ofctl dump-ports "$1" "$2" | sed -n 's/.*tx pkts=\([0-9]*\).*/\1/p'
}

# run NAME SIZE OUT_BRIDGE OUT_PORT: measures the PMD thread for $secs
# seconds and appends "NAME SIZE PPS CYCLES" to $work/results.
run() {
    local name=$1 size=$2 t0 t1 tx0 tx1 stats
    # Warm up (upcalls, EMC), then measure.
    sleep 1
    tx0=$(tx_packets "$3" "$4")
    appctl dpif-netdev/pmd-stats-clear >/dev/null
    t0=$(date +%s.%N)
    if test "${PSP_BENCH_PERF:-}" = "$name-$size"; then
        # Where the PMD thread's cycles go in this run.
        local tid
        tid=$(ps -T -o spid=,comm= -p "$(cat "$work/ovs-vswitchd.pid")" \
                  | awk '$2 ~ /^pmd/ && !n++ {print $1}')
        perf record -q -t "$tid" -o "$work/perf.data" -- sleep "$secs" \
            2>/dev/null
        perf report -q -i "$work/perf.data" --stdio --no-children \
            --sort symbol 2>/dev/null | grep -v "^$" | sed -n 1,25p \
            > "$work/perf.txt"
    else
        sleep "$secs"
    fi
    stats=$(appctl dpif-netdev/pmd-stats-show)
    t1=$(date +%s.%N)
    tx1=$(tx_packets "$3" "$4")
    echo "$stats" | awk -v name="$name" -v size="$size" -v t="$t1 - $t0" \
                        -v tx=$((tx1 - tx0)) '
        /^pmd thread/ { pmd = 1 }
        /^main thread/ { pmd = 0 }
        pmd && /packets received:/ { rx = $3 }
        pmd && /idle cycles:/ { idle = $3 }
        pmd && /processing cycles:/ { proc = $3 }
        END {
            split(t, a, " - "); secs = a[1] - a[2]
            if (rx == 0 || tx < rx / 2) {
                printf "%s %d: received %d, sent only %d\n", name, size, rx,
                       tx > "/dev/stderr"
                exit 1
            }
            printf "%s %d %.0f %.1f %.0f\n", name, size, rx / secs,
                   proc / rx, (idle + proc) / secs
        }' >> "$work/results" || die "$name $size did not forward"
}

trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$work"
ip netns add "$ns"
pmd_mask=0x1 pmd_core=0
test "$(nproc)" -ge 2 && pmd_mask=0x2 pmd_core=1
test -f "$keys_file" || die "no master keys in $keys_file (set PSP_KEYS)"
make_pcaps
start_ovs
configure
: > "$work/results"
# pcap_dev NAME PCAP: a device that replays PCAP forever.
pcap_dev() { echo "net_pcap_$1@N@,rx_pcap=$work/$2,infinite_rx=1"; }
for size in $sizes; do
    ports "$(pcap_dev v "vm-$size.pcap")" "net_null_u@N@,no-rx=1"
    for what in plain:2 geneve-encap:10 psp-encap:11; do
        ofctl add-flow br-int "in_port=1,actions=output:${what#*:}"
        if test "${what%:*}" = plain; then
            run plain "$size" br-int sink
        else
            run "${what%:*}" "$size" br-ul ul
        fi
        ofctl del-flows br-int
    done
    for what in geneve psp; do
        ports "net_null_v@N@,no-rx=1" "$(pcap_dev u "$what-$size.pcap")"
        if test $what = geneve; then
            ofctl add-flow br-int "in_port=10,actions=output:2"
        else
            # PSP is an L3 tunnel: the frame gets its Ethernet header back.
            ofctl add-flow br-int "in_port=11,tun_id=7,actions=mod_dl_src:02:00:00:00:00:01,mod_dl_dst:02:00:00:00:00:02,output:2"
        fi
        run "$what-decap" "$size" br-int sink
        ofctl del-flows br-int
    done
    # Transport mode, the psp_encrypt and psp_decrypt actions: the VM's
    # frames encrypted to the SA of 10.1.0.2, and the same frames as PSP
    # from 10.1.0.1, decrypted and recirculated to table 1.
    ports "$(pcap_dev v "vm-$size.pcap")" "net_null_u@N@,no-rx=1"
    ofctl add-flow br-int "in_port=1,ip,actions=psp_encrypt(assoc=7),output:2"
    run xp-encrypt "$size" br-int sink
    ofctl del-flows br-int
    ports "$(pcap_dev v "xport-$size.pcap")" "net_null_u@N@,no-rx=1"
    ofctl add-flow br-int "in_port=1,udp,tp_dst=1000,actions=psp_decrypt(assoc=7,table=1)"
    ofctl add-flow br-int "table=1,in_port=1,actions=output:2"
    run xp-decrypt "$size" br-int sink
    ofctl del-flows br-int
done
appctl psp/show | grep -q '^  drops' && die "PSP dropped packets: $(appctl psp/show)"

# Raw AES-GCM-128 of the same bytes (tunnel mode seals the inner IP
# packet), on the PMD thread's core once ovs-vswitchd is gone.
cleanup
for size in $sizes; do
    echo "$((size - 14))"
done | xargs taskset -c "$pmd_core" "$build/tests/ovs-psp-bench" --raw \
    > "$work/raw"

tsc=$(awk '{s += $5; n++} END {printf "%.0f", s / n}' "$work/results")
echo "PSP in one PMD thread (DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), $(nproc) cores," \
     "TSC $(awk -v t="$tsc" 'BEGIN {printf "%.2f", t / 1e9}') GHz," \
     "$secs s per run; inner packet = the VM's Ethernet frame)"
echo
printf '| %-5s | %-12s | %8s | %8s | %10s | %7s |\n' \
       size path Mpps Gbit/s cycles/pkt ns/pkt
printf '|-------|--------------|----------|----------|------------|---------|\n'
awk -v tsc="$tsc" '{
        printf "| %5d | %-12s | %8.3f | %8.3f | %10.0f | %7.1f |\n", $2, $1,
               $3 / 1e6, $3 * $2 * 8 / 1e9, $4, $4 / tsc * 1e9
    }' "$work/results"
echo
# libpsp's AES-GCM: intel-ipsec-mb if ovs-psp-bench measured it (it does
# only when libpsp is built --with-ipsec-mb), else OpenSSL.
impl=openssl
grep -q '^ipsec-mb ' "$work/raw" && impl=ipsec-mb
echo "PSP over Geneve, per packet, against raw AES-GCM-128 seal + open of the"
echo "inner IP packet (ovs-psp-bench --raw, same run, with libpsp's library,"
echo "$impl); target: PSP encap + decap over Geneve <= raw seal + open + 100 ns:"
echo
printf '| %-5s | %10s | %10s | %12s | %13s | %12s | %6s |\n' size "encap +ns" \
       "decap +ns" "encap+decap" "raw $impl" "raw + 100" target
printf '|-------|------------|------------|--------------|---------------|--------------|--------|\n'
awk -v tsc="$tsc" -v impl="$impl" '
    FILENAME ~ /raw$/ { if ($1 == impl) raw[$2 + 14] = $3 + $4; next }
    { c[$1, $2] = $4 / tsc * 1e9; sizes[$2] = 1 }
    END {
        for (s in sizes) {
            e = c["psp-encap", s] - c["geneve-encap", s]
            d = c["psp-decap", s] - c["geneve-decap", s]
            printf "| %5d | %10.1f | %10.1f | %12.1f | %13.1f | %12.1f | %6s |\n",
                   s, e, d, e + d, raw[s], raw[s] + 100,
                   e + d <= raw[s] + 100 ? "met" : "MISSED"
        }
    }' "$work/raw" "$work/results" | sort -t'|' -k2 -n
echo
echo "Transport mode (psp_encrypt, psp_decrypt to table 1) against the tunnel"
echo "port, and both over plain forwarding, ns per packet, beside raw seal +"
echo "open of as many bytes as the IP packet ($impl):"
echo
printf '| %-5s | %9s | %9s | %9s | %9s | %9s | %9s |\n' size "encrypt" \
       "tnl encap" "decrypt" "tnl decap" "both-plain" "raw"
printf '|-------|-----------|-----------|-----------|-----------|------------|-----------|\n'
awk -v tsc="$tsc" -v impl="$impl" '
    FILENAME ~ /raw$/ { if ($1 == impl) raw[$2 + 14] = $3 + $4; next }
    { c[$1, $2] = $4 / tsc * 1e9; sizes[$2] = 1 }
    END {
        for (s in sizes) {
            printf "| %5d | %9.1f | %9.1f | %9.1f | %9.1f | %10.1f | %9.1f |\n",
                   s, c["xp-encrypt", s], c["psp-encap", s],
                   c["xp-decrypt", s], c["psp-decap", s],
                   c["xp-encrypt", s] + c["xp-decrypt", s] \
                   - 2 * c["plain", s], raw[s]
        }
    }' "$work/raw" "$work/results" | sort -t'|' -k2 -n
if test $impl = ipsec-mb; then
    echo
    echo "Raw AES-GCM-128 seal + open, ns per packet, both libraries:"
    awk '{t[$2] = t[$2] sprintf(" %s %.1f", $1, $3 + $4)}
         END {for (s in t) printf "  %5d bytes:%s\n", s, t[s]}' "$work/raw" \
        | sort -n
fi
if test -s "$work/perf.txt"; then
    echo
    echo "perf, the PMD thread in $PSP_BENCH_PERF (share of its cycles):"
    cat "$work/perf.txt"
fi
