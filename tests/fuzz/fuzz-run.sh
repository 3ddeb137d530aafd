#! /bin/sh
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

# fuzz-run.sh: runs the fuzz targets of tests/fuzz (make fuzz).
#
# usage: fuzz-run.sh BINDIR WORKDIR RUNS SECONDS TARGET...
#
# Writes seeds made from the vectors ($PSP_VECTORS, by default those that
# tests/psp-make-vectors.py makes in WORKDIR/vectors) to WORKDIR/seeds, then runs each
# TARGET (BINDIR/TARGET) with libFuzzer for RUNS runs (-1: no limit) and at
# most SECONDS seconds (0: no limit), growing its corpus in
# WORKDIR/corpus/TARGET (kept from run to run), its log in
# WORKDIR/logs/TARGET.log, and what it finds (crash-*, leak-*, timeout-*,
# oom-*: the input, which the target reproduces when given it as its
# argument) in WORKDIR/findings.  Prints, per target, the executions, the
# time, libFuzzer's final coverage figures (cov: the code edges reached; ft:
# the features, edges with hit counts and comparisons; corp: the corpus) and
# the findings.  Exits 1 if anything was found.

set -e

if test $# -lt 5; then
    echo "usage: $0 BINDIR WORKDIR RUNS SECONDS TARGET..." >&2
    exit 2
fi
bindir=$1
work=$2
runs=$3
seconds=$4
shift 4

here=$(cd "$(dirname "$0")" && pwd)
vectors=${PSP_VECTORS:-$work/vectors}
test -n "$PSP_VECTORS" || test -d "$vectors" \
    || python3 "$here/../psp-make-vectors.py" "$vectors"
if ! ls "$vectors"/encrypted/*.pcap >/dev/null 2>&1; then
    echo "$0: PSP vectors not found in $vectors (set PSP_VECTORS)" >&2
    exit 2
fi

rm -rf "$work/seeds"
mkdir -p "$work/seeds" "$work/corpus" "$work/logs" "$work/findings"
python3 "$here/fuzz-seeds.py" "$vectors" "$work/seeds" >/dev/null

# stat NAME LOG: libFuzzer's final statistic NAME (-print_final_stats=1).
stat() {
    sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

# figure NAME LOG: the last NAME: figure of libFuzzer's status lines.
figure() {
    sed -n "s/.* $1: \([0-9][0-9]*[kMb]*\).*/\1/p" "$2" | tail -1
}

printf '%-24s %10s %8s %8s %7s %6s %6s  %s\n' target execs seconds \
    exec/s cov ft corp findings
found=0
total=0
for t in "$@"; do
    log=$work/logs/$t.log
    mkdir -p "$work/corpus/$t"
    touch "$log.start"
    sleep 1     # So that what the run finds is newer than the mark.
    rc=0
    "$bindir/$t" -runs="$runs" -max_total_time="$seconds" \
        -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$work/findings/$t-" \
        "$work/corpus/$t" "$work/seeds/$t" >"$log" 2>&1 || rc=$?
    execs=$(stat number_of_executed_units "$log")
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
    findings=$(find "$work/findings" -name "$t-*" -newer "$log.start" \
                   2>/dev/null | wc -l) || true
    if test $rc != 0 && test "$findings" = 0; then
        findings="exit-$rc"
    fi
    printf '%-24s %10s %8s %8s %7s %6s %6s  %s\n' "$t" "${execs:-?}" \
        "${secs:-?}" "$(stat average_exec_per_sec "$log")" \
        "$(figure cov "$log")" "$(figure ft "$log")" \
        "$(figure corp "$log" | sed 's,/.*,,')" "$findings"
    total=$((total + ${execs:-0}))
    if test "$findings" != 0; then
        found=1
        grep -m1 -A30 'ERROR: \|fuzz check failed\|==ERROR' "$log" \
            | sed 's/^/    /' || true
        find "$work/findings" -name "$t-*" -newer "$log.start" \
            | sed 's/^/    input: /'
    fi
    rm -f "$log.start"
done
echo "total executions: $total"
exit $found
