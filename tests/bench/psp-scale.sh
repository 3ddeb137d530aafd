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

# psp-scale.sh: the scale benchmark of transmit SAs managed through OVSDB
# (a benchmark, not a test).
#
# Usage: psp-scale.sh OVS_BUILD_DIR [N...]   (default: 1000 100000 1000000)
#
# For each N, on a fresh ovsdb-server and ovs-vswitchd: inserts N PSP_Tx_SA
# rows (50,000 per transaction, straight over JSON-RPC) and prints the time
# until the datapath holds all N SAs and until every row's status says
# "applied"; the resident memory that ovs-vswitchd and ovsdb-server gained
# per SA; and how long one more SA, a re-key of one SA and the removal of one
# SA take to reach the datapath among the N.  Then the datapath's own SA
# figures (ovs-psp-bench --sas): lookup and push cost at each size.

set -e -o pipefail

build=$(cd "$1" && pwd)
shift
sizes=${*:-1000 100000 1000000}
src=$(cd "$build/../src" && pwd)
work=${PSP_SCALE_DIR:-/tmp/ovs-psp-scale}
PATH=$build/utilities:$build/vswitchd:$build/ovsdb:$PATH
export OVS_RUNDIR=$work OVS_LOGDIR=$work OVS_DBDIR=$work OVS_SYSCONFDIR=$work

stop() {
    local pid
    for pid in "$work/ovs-vswitchd.pid" "$work/ovsdb-server.pid"; do
        test -f "$pid" && kill "$(cat "$pid")" 2>/dev/null || true
    done
    sleep 0.5
}
trap stop EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$work/$1.pid")/status"; }
ms() { date +%s%3N; }
n_tx_sas() {
    ovs-appctl psp/show --brief | sed -n 's/^transmit SAs: //p'
}

# rpc.py COMMAND...: the JSON-RPC side, in Python (ovsdb-client takes a
# transaction as one argument, too small for 50,000 rows).
cat > "$work.rpc.py" <<'EOF'
import json, os, socket, sys

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["OVS_RUNDIR"] + "/db.sock")
    return s

def call(s, method, params):
    s.sendall(json.dumps({"method": method, "params": params,
                          "id": 0}).encode())
    buf, dec = b"", json.JSONDecoder()
    while True:
        buf += s.recv(1 << 20)
        if not buf.rstrip().endswith(b"}"):
            continue            # Not a whole reply yet: decode once, later.
        try:
            msg, _ = dec.raw_decode(buf.decode())
        except ValueError:
            continue
        if msg.get("id") == 0:
            return msg["result"]

def tx(s, ops):
    res = call(s, "transact", ["Open_vSwitch"] + ops)
    for r in res:
        if r and "error" in r:
            sys.exit("transaction failed: %s" % r)
    return res

def row(i, spi):
    return {"remote": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "association": 7 + (i >> 24), "spi": spi, "version": 0,
            "sa_key": "%032x" % (0x42 << 120 | i)}

cmd, s = sys.argv[1], connect()
if cmd == "insert":                     # insert FIRST COUNT
    first, count = int(sys.argv[2]), int(sys.argv[3])
    for b in range(first, first + count, 50000):
        tx(s, [{"op": "insert", "table": "PSP_Tx_SA", "row": row(i, i + 1)}
               for i in range(b, min(b + 50000, first + count))])
elif cmd == "applied":                  # applied: rows whose state is applied
    res = tx(s, [{"op": "select", "table": "PSP_Tx_SA",
                  "where": [["status", "includes",
                             ["map", [["state", "applied"]]]]],
                  "columns": ["_uuid"]}])
    print(len(res[0]["rows"]))
elif cmd == "uuid":                     # uuid I: the row of SA I
    r = row(int(sys.argv[2]), 0)
    res = tx(s, [{"op": "select", "table": "PSP_Tx_SA",
                  "where": [["remote", "==", r["remote"]],
                            ["association", "==", r["association"]]],
                  "columns": ["_uuid"]}])
    print(res[0]["rows"][0]["_uuid"][1])
elif cmd == "rekey":                    # rekey UUID I SPI: as a controller
    uuid, r = sys.argv[2], row(int(sys.argv[3]), int(sys.argv[4]))
    tx(s, [{"op": "update", "table": "PSP_Tx_SA",
            "where": [["_uuid", "==", ["uuid", uuid]]],
            "row": {"spi": r["spi"], "sa_key": r["sa_key"]}}])
elif cmd == "delete":                   # delete UUID
    tx(s, [{"op": "delete", "table": "PSP_Tx_SA",
            "where": [["_uuid", "==", ["uuid", sys.argv[2]]]]}])
EOF
rpc() { python3 "$work.rpc.py" "$@"; }

# wait_for CMD VALUE: polls CMD every 20 ms until it prints VALUE.
wait_for() {
    local cmd=$1 want=$2
    until test "$($cmd)" = "$want"; do
        sleep 0.02
    done
}

echo "transmit SAs through OVSDB: ovsdb-server and ovs-vswitchd, fresh for each size"
printf '%9s %9s %9s %11s %11s %8s %8s %8s\n' SAs "apply s" "status s" \
    "vswitchd B" "ovsdb B" "add ms" "rekey ms" "del ms"
for n in $sizes; do
    stop
    rm -rf "$work"
    mkdir -p "$work"
    ovsdb-tool create "$work/conf.db" "$src/vswitchd/vswitch.ovsschema"
    ovsdb-server "$work/conf.db" --remote="punix:$work/db.sock" --detach \
        --no-chdir --pidfile --log-file -vconsole:off 2>/dev/null
    ovs-vsctl --no-wait init
    ovs-vswitchd --detach --no-chdir --pidfile --log-file -vconsole:off \
        2>/dev/null
    until ovs-vsctl get PSP . status:active_generation >/dev/null 2>&1; do
        sleep 0.1
    done
    sleep 1
    v0=$(rss_kb ovs-vswitchd) d0=$(rss_kb ovsdb-server)

    t0=$(ms)
    rpc insert 0 "$n"
    wait_for n_tx_sas "$n"
    t1=$(ms)
    wait_for "rpc applied" "$n"
    t2=$(ms)
    # Let the first statistics write-back (5 s after the SAs) go by, so that
    # what follows measures one change, not the tail of the bulk load.
    sleep $((6 + n / 100000))
    v1=$(rss_kb ovs-vswitchd) d1=$(rss_kb ovsdb-server)

    # One SA more, one re-keyed (new SPI and key: seen by its SPI in
    # psp/show, whose listing of every SA is timed apart and taken off),
    # one removed.  A controller knows its rows' UUIDs (a lookup by remote
    # and association would scan every row in ovsdb-server): they are found
    # beforehand, untimed.
    u_rekey=$(rpc uuid $((n / 2)))
    a0=$(ms)
    rpc insert "$n" 1
    wait_for n_tx_sas $((n + 1))
    t_add=$(($(ms) - a0))

    u_del=$(rpc uuid "$n")
    spi_re="spi=0x$(printf %08x $((n + 100)))"
    a0=$(ms)
    rpc rekey "$u_rekey" $((n / 2)) $((n + 100))
    until ovs-appctl psp/show | grep "$spi_re" >/dev/null; do
        sleep 0.02
    done
    a1=$(ms)
    ovs-appctl psp/show | grep "$spi_re" >/dev/null
    t_rekey=$((a1 - a0 - ($(ms) - a1)))

    a0=$(ms)
    rpc delete "$u_del"
    wait_for n_tx_sas "$n"
    t_del=$(($(ms) - a0))

    printf '%9d %9.2f %9.2f %11d %11d %8d %8d %8d\n' "$n" \
        "$(awk "BEGIN {print ($t1 - $t0) / 1000}")" \
        "$(awk "BEGIN {print ($t2 - $t0) / 1000}")" \
        $(( (v1 - v0) * 1024 / n )) $(( (d1 - d0) * 1024 / n )) \
        "$t_add" "$t_rekey" "$t_del"
done
stop
rm -f "$work.rpc.py"
echo "(apply: until the datapath holds every SA; status: until every row says"
echo " applied; B: resident bytes gained per SA; add, rekey, del: one SA among"
echo " the others, until the datapath has it; rekey includes listing every SA)"

"$build/tests/ovs-psp-bench" --sas "$(echo $sizes | tr ' ' '\n' | sort -n | tail -1)"
