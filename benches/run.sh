#!/usr/bin/env bash
# Reproduces the table of BENCHMARKS.md in one command: the conductor against the raw-barrier
# baseline at N = 1, 10, 100, 1000 and 10,000 clients in one process, then one client per
# process at 2, 8 and 16 processes, alternating A B A B (baseline, conductor) so both see the
# same machine; then the core alone. Prints the machine, medians with their spread (min-max)
# and the ratio to the baseline, and keeps every run's JSON report.
#
#   benches/run.sh            # 5 runs per row
#   RUNS=9 benches/run.sh     # more runs per row
#
# Run it on a quiet machine: the figures are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
out=target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

cargo build --release --quiet --bin conductor --example raw_barrier
bin=target/release/conductor
baseline=target/release/examples/raw_barrier

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|CPU max MHz)' || true
echo "kernel: $(uname -r)"
echo "rustc: $(rustc -V)"
echo "open files (hard): $(ulimit -Hn), somaxconn: $(cat /proc/sys/net/core/somaxconn)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results: $out"

# one ROW ARGS...: runs the row `runs` times against each server, alternating.
one() {
  local row=$1
  shift
  for i in $(seq "$runs"); do
    "$bin" bench --baseline "$baseline" "$@" --json > "$out/$row.baseline.$i.json"
    "$bin" bench --spawn "$@" --json > "$out/$row.conductor.$i.json"
  done
  echo "   $row done"
}

echo "== clients in one process"
one n1 --clients 1 --rounds 20000
one n10 --clients 10 --rounds 10000
one n100 --clients 100 --rounds 2000
one n1000 --clients 1000 --rounds 300
one n10000 --clients 10000 --rounds 30
echo "== one client per process"
one p2 --procs 2 --rounds 5000
one p8 --procs 8 --rounds 2000
one p16 --procs 16 --rounds 1000

python3 - "$out" <<'PY'
import statistics, sys

sys.path.insert(0, "benches")
from summary import load, one_dp, spread, whole
rows = ["n1", "n10", "n100", "n1000", "n10000", "p2", "p8", "p16"]

print()
print("| row | clients | procs | baseline rounds/s | conductor rounds/s | ratio | conductor µs/round | conductor p50 / p99 µs | server CPU µs/round: baseline | conductor | ratio | violations |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
    base, cond = load(row, "baseline"), load(row, "conductor")
    if not base or not cond:
        continue
    b = [r["rounds_per_sec"] for r in base]
    c = [r["rounds_per_sec"] for r in cond]
    ratio = statistics.median(c) / statistics.median(b)
    us = [1e6 / r["rounds_per_sec"] for r in cond]
    p50 = statistics.median(r["round_us"]["p50"] for r in cond)
    p99 = statistics.median(r["round_us"]["p99"] for r in cond)
    bad = sum(r["violations_total"] for r in base + cond)
    bcpu = [r["server_cpu_us_per_round"] for r in base if r.get("server_cpu_us_per_round")]
    ccpu = [r["server_cpu_us_per_round"] for r in cond if r.get("server_cpu_us_per_round")]
    cpu = "| - | - | -"
    if bcpu and ccpu:
        cpu_ratio = statistics.median(ccpu) / statistics.median(bcpu)
        cpu = f"| {spread(bcpu, one_dp)} | {spread(ccpu, one_dp)} | {cpu_ratio:.2f}"
    print(f"| {row} | {cond[0]['clients']} | {cond[0]['procs']} | {spread(b, whole)} | {spread(c, whole)} "
          f"| {ratio:.2f} | {spread(us, one_dp)} | {p50:,.0f} / {p99:,.0f} {cpu} | {bad} |")

print()
print("| at 10,000 clients | baseline | conductor | ratio |")
print("|---|---|---|---|")
base, cond = load("n10000", "baseline"), load("n10000", "conductor")
if base and cond:
    bc = [r["connect_ms"] for r in base]
    cc = [r["connect_ms"] for r in cond]
    print(f"| connect + hellos, ms | {spread(bc, one_dp)} | {spread(cc, one_dp)} | {statistics.median(cc) / statistics.median(bc):.2f} |")
    bm = [r["server_memory"]["bytes_per_client"] for r in base if r.get("server_memory")]
    cm = [r["server_memory"]["bytes_per_client"] for r in cond if r.get("server_memory")]
    if bm and cm:
        print(f"| server memory per idle client, bytes (peak RSS - idle RSS) / N | {spread(bm, whole)} | {spread(cm, whole)} | {statistics.median(cm) / max(statistics.median(bm), 1):.1f} |")
PY

echo
echo "== the core alone (no sockets)"
cargo bench --quiet --bench core 2>/dev/null | tee "$out/core.txt"
