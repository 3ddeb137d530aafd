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

# The demo, at this stage of ovs-psp: the datapath (the psp port of
# ovs-vswitchd) is not built yet, so this is an ovs-psp-pcap round trip on
# real traffic.  Two "VMs" in network namespaces talk over a veth pair; their
# traffic is captured, PSP-encrypted as a hypervisor would (tunnel mode),
# shown on the "wire", tampered with, and decrypted again.
#
# usage: demo-pcap.sh OVS-BUILD-DIR

set -e -o pipefail

build=${1:?usage: $0 OVS-BUILD-DIR}
tool=$build/utilities/ovs-psp-pcap
test -x "$tool" || { echo "$tool: not built" >&2; exit 1; }

work=$(mktemp -d /tmp/ovs-psp-demo.XXXXXX)
ns1=psp-demo-vm1-$$
ns2=psp-demo-vm2-$$
cleanup() {
    ip netns del "$ns1" 2>/dev/null || true
    ip netns del "$ns2" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n=== %s\n' "$*"; }
secret="TENANT-SECRET-$(date +%s)"

say "1. Two VMs (network namespaces) exchange traffic; we capture it"
ip netns add "$ns1"
ip netns add "$ns2"
ip link add vm1 netns "$ns1" type veth peer name vm2 netns "$ns2"
ip -n "$ns1" addr add 192.0.2.1/24 dev vm1
ip -n "$ns2" addr add 192.0.2.2/24 dev vm2
ip -n "$ns1" link set vm1 up
ip -n "$ns2" link set vm2 up
ip netns exec "$ns2" tcpdump -q -i vm2 -w "$work/clear.pcap" -U \
    'ip and (udp or icmp)' 2>/dev/null &
dump=$!
sleep 1
ip netns exec "$ns1" ping -c 3 -i 0.2 -q 192.0.2.2 >/dev/null
for i in 1 2 3 4 5; do
    ip netns exec "$ns1" bash -c \
        "echo '$secret message $i' > /dev/udp/192.0.2.2/443" || true
done
sleep 1
kill $dump
wait $dump 2>/dev/null || true
tcpdump -nn -r "$work/clear.pcap" 2>/dev/null | sed 's/^[0-9:.]* /  /'
printf '  cleartext copies of the secret on the wire: %s\n' \
    "$(grep -c -a "$secret" "$work/clear.pcap" || true)"

say "2. Master keys (random, RAM-only in the datapath; a 0600 file here)"
(umask 077; od -An -tx1 -N64 /dev/urandom | tr -s ' \n' ' ' \
    | fold -w 96 > "$work/keys.cfg")
echo "  SPI 0x00000001 uses master key 0; its AES-GCM-128 key (for the peer):"
echo "  $("$tool" derive --master-keys "$work/keys.cfg" --spi 1 --version 0 \
        | sed 's/\(.\{8\}\).*/\1.../')  (truncated)"

say "3. Encrypt: PSP tunnel mode, AES-GCM-128, crypt offset 6 (inner ports visible)"
"$tool" encrypt --master-keys "$work/keys.cfg" --spi 1 --version 0 \
    --mode tunnel --crypt-offset 6 "$work/clear.pcap" "$work/psp.pcap"
echo "  on the wire:"
tcpdump -nn -r "$work/psp.pcap" 2>/dev/null | sed 's/^[0-9:.]* /  /'
echo "  first packet (UDP payload starts with the PSP header: next header 4,"
echo "  ext len 1, offset 6, version 0, SPI 1, IV):"
tcpdump -nn -x -c 1 -r "$work/psp.pcap" 2>/dev/null | sed -n '2,5p'
n=$(grep -c -a "$secret" "$work/psp.pcap" || true)
printf '  cleartext copies of the secret on the wire: %s\n' "$n"
test "$n" = 0

say "4. Decrypt: ICV verified, inner packets restored"
"$tool" decrypt --master-keys "$work/keys.cfg" "$work/psp.pcap" \
    "$work/dec.pcap"
if diff <(tcpdump -nn -x -r "$work/clear.pcap" 2>/dev/null \
              | sed 's/^[0-9:.]* //') \
        <(tcpdump -nn -x -r "$work/dec.pcap" 2>/dev/null \
              | sed 's/^[0-9:.]* //') >/dev/null; then
    echo "  decrypted capture is identical to the original"
else
    echo "  decrypted capture differs from the original" >&2
    exit 1
fi

say "5. Tamper with one ciphertext byte of every packet: all dropped, counted"
python3 - "$work/psp.pcap" "$work/bad.pcap" <<'EOF'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
ofs = 24
while ofs < len(data):
    caplen = struct.unpack_from('<I', data, ofs + 8)[0]
    data[ofs + 16 + caplen - 20] ^= 0x01      # a byte just before the ICV
    ofs += 16 + caplen
open(sys.argv[2], 'wb').write(data)
EOF
if "$tool" decrypt --master-keys "$work/keys.cfg" "$work/bad.pcap" \
        "$work/bad-dec.pcap"; then
    echo "  tampered packets were accepted" >&2
    exit 1
fi
printf '  packets delivered from the tampered capture: %s\n' \
    "$(tcpdump -r "$work/bad-dec.pcap" 2>/dev/null | wc -l)"

say "done: this stage's demo is an offline round trip; the ovs-vswitchd"
echo "datapath (two hypervisors) comes with the psp port."
