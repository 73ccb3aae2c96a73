#!/usr/bin/env bash
# TLS against plaintext in one run: the conductor started by `conductor bench --spawn`, once
# plaintext and once with mutual TLS (`--tls`: a CA, the conductor's certificate, one client
# certificate per simulated client naming its id), alternating A B A B at N = 10, 100 and
# 1000; then 1000 mutual-TLS participants connecting at once (connect, handshake, both hellos)
# and the conductor's memory per connected TLS participant. Prints medians with their spread
# (min-max) and the ratios; keeps every run's JSON report.
#
#   benches/tls.sh            # 5 runs per row
#   RUNS=9 benches/tls.sh     # more runs per row
#
# Run it on a quiet machine: the figures are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
out=target/bench-results/tls-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

cargo build --release --quiet --bin conductor
bin=target/release/conductor
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results: $out"

# one ROW ARGS...: the row `runs` times, plaintext and TLS alternating.
one() {
  local row=$1
  shift
  for i in $(seq "$runs"); do
    "$bin" bench --spawn "$@" --json > "$out/$row.plain.$i.json"
    "$bin" bench --spawn --tls "$@" --json > "$out/$row.tls.$i.json"
  done
  echo "   $row done"
}

one n10 --clients 10 --rounds 10000
one n100 --clients 100 --rounds 2000
one n1000 --clients 1000 --rounds 300

python3 - "$out" <<'PY'
import statistics, sys

sys.path.insert(0, "benches")
from summary import load, one_dp, spread, whole

print()
print("| clients | plaintext rounds/s | TLS rounds/s | ratio (target ≥ 0.8) | server CPU µs/round: plaintext | TLS | violations |")
print("|---|---|---|---|---|---|---|")
for row in ["n10", "n100", "n1000"]:
    plain, tls = load(row, "plain"), load(row, "tls")
    if not plain or not tls:
        continue
    p = [r["rounds_per_sec"] for r in plain]
    t = [r["rounds_per_sec"] for r in tls]
    pc = [r["server_cpu_us_per_round"] for r in plain if r.get("server_cpu_us_per_round")]
    tc = [r["server_cpu_us_per_round"] for r in tls if r.get("server_cpu_us_per_round")]
    bad = sum(r["violations_total"] for r in plain + tls)
    print(f"| {tls[0]['clients']} | {spread(p)} | {spread(t)} | {statistics.median(t) / statistics.median(p):.2f} "
          f"| {spread(pc, one_dp)} | {spread(tc, one_dp)} | {bad} |")

plain, tls = load("n1000", "plain"), load("n1000", "tls")
if plain and tls:
    print()
    print("| at 1000 clients | plaintext | mutual TLS |")
    print("|---|---|---|")
    print(f"| connect + handshake + both hellos, ms (target < 2000 with TLS) | {spread([r['connect_ms'] for r in plain], one_dp)} | {spread([r['connect_ms'] for r in tls], one_dp)} |")
    pm = [r["server_memory"]["rss_bytes_per_client"] for r in plain if r.get("server_memory")]
    tm = [r["server_memory"]["rss_bytes_per_client"] for r in tls if r.get("server_memory")]
    if pm and tm:
        print(f"| server memory per connected client, bytes (RSS - idle RSS) / N (target ≤ 32 KiB with TLS) | {spread(pm)} | {spread(tm)} |")
PY
