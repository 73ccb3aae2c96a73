#!/usr/bin/env bash
# The HTTP endpoint's cost (issue "watch it live"): rounds per second and server CPU per round
# with the endpoint off, against on and scraped every second (`conductor bench --spawn
# --scrape-http`), at N = 1 and N = 1000, alternating off and on (A B A B) so that both see the
# same machine. Prints medians with their spread (min-max) and the ratio on/off; keeps every
# run's JSON report. The target: rounds/s on within 2% of off.
#
#   benches/http.sh                              # 5 runs per row, about 4 minutes
#   RUNS=9 benches/http.sh                       # more runs per row
#   RUNS=1 ROUNDS_1=2000 ROUNDS_1000=30 BIN=target/debug/conductor benches/http.sh
#                                                # a quick check that it works (no timing)
#
# Run it on a quiet machine: the figures are wall-clock. The default rounds make each run
# last about 10 s, so that about ten scrapes fall inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
rounds_1=${ROUNDS_1:-200000}
rounds_1000=${ROUNDS_1000:-2000}
source benches/lib.sh
out=$(results_dir http)

bin=$(conductor_bin)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results: $out"

# one ROW ARGS...: the row `runs` times with the endpoint off, then on and scraped.
one() {
  local row=$1
  shift
  for i in $(seq "$runs"); do
    "$bin" bench --spawn "$@" --json > "$out/$row.off.$i.json"
    "$bin" bench --spawn "$@" --scrape-http --json > "$out/$row.on.$i.json"
  done
  echo "   $row done"
}

one n1 --clients 1 --rounds "$rounds_1"
one n1000 --clients 1000 --rounds "$rounds_1000"

python3 - "$out" <<'PY'
import statistics, sys

sys.path.insert(0, "benches")
from summary import load, one_dp, spread, whole

print()
print("| row | clients | rounds/s, http off | rounds/s, http on + scraped | ratio | server CPU µs/round: off | on | ratio | scrapes ok / failed | violations |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in ["n1", "n1000"]:
    off, on = load(row, "off"), load(row, "on")
    if not off or not on:
        continue
    a = [r["rounds_per_sec"] for r in off]
    b = [r["rounds_per_sec"] for r in on]
    ca = [r["server_cpu_us_per_round"] for r in off if r.get("server_cpu_us_per_round")]
    cb = [r["server_cpu_us_per_round"] for r in on if r.get("server_cpu_us_per_round")]
    ok = sum(r["http_scrapes"]["ok"] for r in on)
    failed = sum(r["http_scrapes"]["failed"] for r in on)
    bad = sum(r["violations_total"] for r in off + on)
    cpu = "| - | - | -"
    if ca and cb:
        cpu = f"| {spread(ca, one_dp)} | {spread(cb, one_dp)} | {statistics.median(cb) / statistics.median(ca):.3f}"
    print(f"| {row} | {off[0]['clients']} | {spread(a, whole)} | {spread(b, whole)} "
          f"| {statistics.median(b) / statistics.median(a):.3f} {cpu} | {ok} / {failed} | {bad} |")
PY
