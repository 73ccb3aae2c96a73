#!/usr/bin/env bash
# The state file's cost (issue "nothing lost when the conductor dies"): rounds per second and
# server CPU per round with no state file, against a state file (`state_file`), against a
# state file synced after each record (`state_sync: true`), all with `conductor bench --spawn`,
# at N = 1 and N = 100, alternating off, on and synced (A B C A B C) so that all three see the
# same machine. Prints medians with their spread (min-max) and the ratios to off; keeps every
# run's JSON report. The target: on within 3% of off at N = 1, nothing measurable at N = 100;
# the synced figure is reported as it is.
#
#   benches/state_file.sh                        # 5 runs per row and mode, about 5 minutes
#   RUNS=9 benches/state_file.sh                 # more runs per row
#   RUNS=1 ROUNDS_1=2000 ROUNDS_100=200 BIN=target/debug/conductor benches/state_file.sh
#                                                # a quick check that it works (no timing)
#
# Run it on a quiet machine: the figures are wall-clock. The synced rows depend on the disk
# under the temporary directory ($TMPDIR), which is where the spawned conductors keep their
# state files: say which disk it was when you quote them.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
rounds_1=${ROUNDS_1:-100000}
rounds_100=${ROUNDS_100:-10000}
source benches/lib.sh
out=$(results_dir state-file)

bin=$(conductor_bin)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); temporary directory: ${TMPDIR:-/tmp} ($(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $2}')); results: $out"

# one ROW ARGS...: the row `runs` times in each mode, the modes alternating.
one() {
  local row=$1
  shift
  for i in $(seq "$runs"); do
    "$bin" bench --spawn "$@" --json > "$out/$row.off.$i.json"
    "$bin" bench --spawn "$@" --state-file --json > "$out/$row.on.$i.json"
    "$bin" bench --spawn "$@" --state-sync --json > "$out/$row.synced.$i.json"
  done
  echo "   $row done"
}

one n1 --clients 1 --rounds "$rounds_1"
one n100 --clients 100 --rounds "$rounds_100"

python3 - "$out" <<'PY'
import statistics, sys

sys.path.insert(0, "benches")
from summary import load, one_dp, spread, whole

print()
print("| row | clients | state file | rounds/s | ratio to off | server CPU µs/round | ratio to off | violations |")
print("|---|---|---|---|---|---|---|---|")
for row in ["n1", "n100"]:
    off = load(row, "off")
    if not off:
        continue
    base_rate = statistics.median(r["rounds_per_sec"] for r in off)
    base_cpu = [r["server_cpu_us_per_round"] for r in off if r.get("server_cpu_us_per_round")]
    for mode in ["off", "on", "synced"]:
        reports = load(row, mode)
        if not reports:
            continue
        for r in reports:
            recorded = r.get("state_file")
            if mode != "off" and (not recorded or not recorded["finished"]):
                sys.exit(f"{row} {mode}: the state file was not recorded to the end: {recorded}")
        rate = [r["rounds_per_sec"] for r in reports]
        cpu = [r["server_cpu_us_per_round"] for r in reports if r.get("server_cpu_us_per_round")]
        bad = sum(r["violations_total"] for r in reports)
        cpu_cells = "- | -"
        if cpu and base_cpu:
            cpu_cells = (f"{spread(cpu, one_dp)} | "
                         f"{statistics.median(cpu) / statistics.median(base_cpu):.3f}")
        print(f"| {row} | {reports[0]['clients']} | {mode} | {spread(rate, whole)} "
              f"| {statistics.median(rate) / base_rate:.3f} | {cpu_cells} | {bad} |")
PY
