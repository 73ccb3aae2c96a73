#!/usr/bin/env bash
# The pace (issue "run control"), in two parts.
#
# Jitter: `conductor bench --spawn --pace-ms P` at pace_ms 1, 10 and 33 with 10 and 1000
# clients; with a pace the bench's round times are the intervals between waves as the clients
# see them. Prints p50, p99, max and min of the intervals over ROUNDS waves, and the waves the
# conductor counted late.
#
# A/B: rounds per second without a pace (pace_ms 0, the default) against a conductor built
# before run control existed (BASE_REV, default 37d79d8, built once from `git archive` into
# target/pace-base/), alternating A B A B at N = 1 and N = 1000. The target: no difference.
#
#   benches/pace.sh                              # 1000 waves per jitter row, 5 A/B runs per row
#   RUNS=9 benches/pace.sh                       # more A/B runs per row
#   ONLY=jitter benches/pace.sh                  # one part only (jitter or ab)
#   BASE_BIN=path/to/old/conductor benches/pace.sh   # the A side already built
#   ROUNDS=20 RUNS=1 ROUNDS_1=2000 ROUNDS_1000=20 BIN=target/debug/conductor \
#     BASE_BIN=target/debug/conductor benches/pace.sh   # a quick check that it works (no timing)
#
# Run it on a quiet machine: the figures are wall-clock. The jitter rows take about
# ROUNDS x (1 + 10 + 33) ms x 2, 90 s at the default.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-1000}
runs=${RUNS:-5}
rounds_1=${ROUNDS_1:-200000}
rounds_1000=${ROUNDS_1000:-2000}
only=${ONLY:-}
base_rev=${BASE_REV:-37d79d8}
source benches/lib.sh
out=$(results_dir pace)

bin=$(conductor_bin)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); results: $out"

if [ "$only" != ab ]; then
  for pace in 1 10 33; do
    for n in 10 1000; do
      "$bin" bench --spawn --clients "$n" --rounds "$rounds" --pace-ms "$pace" --json \
        > "$out/jitter.p$pace.n$n.json"
    done
    echo "   pace $pace ms done"
  done
fi

if [ "$only" != jitter ]; then
  base=${BASE_BIN:-}
  if [ -z "$base" ]; then
    src=target/pace-base/$base_rev
    if [ ! -x "$src/target/release/conductor" ]; then
      mkdir -p "$src"
      git archive "$base_rev" | tar -x -C "$src"
      (cd "$src" && cargo build --release --quiet --bin conductor)
    fi
    base=$src/target/release/conductor
  fi
  for i in $(seq "$runs"); do
    for row in "n1 1 $rounds_1" "n1000 1000 $rounds_1000"; do
      set -- $row
      "$base" bench --spawn --clients "$2" --rounds "$3" --json > "$out/ab.$1.before.$i.json"
      "$bin" bench --spawn --clients "$2" --rounds "$3" --json > "$out/ab.$1.pace0.$i.json"
    done
  done
  echo "   A/B done"
fi

python3 - "$out" <<'PY'
import json, pathlib, statistics, sys

out = pathlib.Path(sys.argv[1])
ms = lambda us: f"{us / 1000:.3f}"

jitter = sorted(out.glob("jitter.*.json"))
if jitter:
    print()
    print("| pace_ms | clients | waves | interval p50 ms | p99 ms | max ms | min ms | late waves | violations |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [json.loads(p.read_text()) for p in jitter]
    for r in sorted(rows, key=lambda r: (r["pace_ms"], r["clients"])):
        i = r["round_us"]
        print(f"| {r['pace_ms']} | {r['clients']} | {r['rounds']} | {ms(i['p50'])} | {ms(i['p99'])} "
              f"| {ms(i['max'])} | {ms(i['min'])} | {r.get('late_waves', '-')} | {r['violations_total']} |")

def load(row, side):
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"ab.{row}.{side}.*.json"))]

def spread(values):
    values = sorted(values)
    return f"{statistics.median(values):,.0f} ({values[0]:,.0f}-{values[-1]:,.0f})"

if list(out.glob("ab.*.json")):
    print()
    print("| row | clients | rounds/s before run control | rounds/s, pace_ms 0 | ratio |")
    print("|---|---|---|---|---|")
    for row in ["n1", "n1000"]:
        a, b = load(row, "before"), load(row, "pace0")
        if not a or not b:
            continue
        ra = [r["rounds_per_sec"] for r in a]
        rb = [r["rounds_per_sec"] for r in b]
        print(f"| {row} | {a[0]['clients']} | {spread(ra)} | {spread(rb)} "
              f"| {statistics.median(rb) / statistics.median(ra):.3f} |")
PY
