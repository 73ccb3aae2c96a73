#!/usr/bin/env bash
# A C participant against a Rust one: N processes of one participant each, all written in C
# over liblockstep (benches/participant.c, lockstep_run) or all in Rust over the lockstep
# crate (examples/bench_participant.rs, Runner), against `conductor --min-clients N --rounds
# R`, alternating C and Rust runs so both see the same machine. Each participant reports the
# wall time of its measured rounds as it saw them and its process's CPU time over them;
# prints, per language, µs per round (the mean over the participants of a run) and
# participant CPU µs per round, as medians over the runs with their spread (min-max), and
# keeps every participant's JSON line.
#
#   benches/participants.sh                          # 8 processes, 2000 rounds, 5 runs each
#   PROCS=16 ROUNDS=5000 RUNS=9 benches/participants.sh
#   PROFILE=debug PROCS=2 ROUNDS=50 RUNS=1 benches/participants.sh   # a check that it works
#
# Run it on a quiet machine: the figures are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
procs=${PROCS:-8}
rounds=${ROUNDS:-2000}
runs=${RUNS:-5}
profile=${PROFILE:-release}
# Warm-up as conductor bench takes it: a tenth of the rounds, 2 to 100.
warmup=$((rounds / 10))
warmup=$((warmup < 2 ? 2 : warmup > 100 ? 100 : warmup))
out=$PWD/target/bench-results/participants-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

# Built in the profile's own directory (release, or debug for a quick check).
case $profile in
  release) build=(--release) lib=$PWD/target/release ;;
  debug) build=() lib=$PWD/target/debug ;;
  *) echo "PROFILE is release or debug, not $profile" >&2; exit 2 ;;
esac
cargo build "${build[@]}" --quiet --bin conductor --example bench_participant -p lockstep-conductor
cargo build "${build[@]}" --quiet -p lockstep-capi
cc -O2 -std=c11 -Wall -Wextra benches/participant.c -Iinclude -L"$lib" -llockstep \
  -Wl,-rpath,"$lib" -o "$out/participant_c"
conductor=$lib/conductor
declare -A participant=([c]="$out/participant_c" [rust]=$lib/examples/bench_participant)

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|CPU max MHz)' || true
echo "kernel: $(uname -r), rustc: $(rustc -V), cc: $(cc --version | head -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$procs processes, $rounds rounds (+ $warmup warm-up), $runs runs each, $profile build"
echo "results: $out"

# The conductor of the run in progress, stopped if the script ends early.
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi' EXIT

# one LANG RUN: a conductor (every setting at its default, in a directory of its own for its
# status files and log) and $procs participants in LANG; their lines into LANG.RUN.jsonl.
one() {
  local lang=$1 run=$2 dir="$out/$1.$2"
  local port_file="$dir/port"
  mkdir -p "$dir"
  (cd "$dir" && exec "$conductor" --port 0 --min-clients "$procs" \
    --rounds "$((warmup + rounds + 1))" > port 2> log) &
  pid=$!
  local port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$port_file" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "the conductor did not start: $(cat "$dir/log")" >&2; exit 1; }
  local children=()
  for i in $(seq 0 $((procs - 1))); do
    "${participant[$lang]}" "127.0.0.1:$port" "p-$i" "$warmup" >> "$out/$lang.$run.jsonl" &
    children+=($!)
  done
  for child in "${children[@]}"; do wait "$child"; done
  wait "$pid"
  pid=""
}

for run in $(seq "$runs"); do
  one c "$run"
  one rust "$run"
  echo "   run $run done"
done

python3 - "$out" "$procs" <<'PY'
import json, pathlib, statistics, sys

out, procs = pathlib.Path(sys.argv[1]), int(sys.argv[2])

def spread(values):
    values = sorted(values)
    return f"{statistics.median(values):,.1f} ({values[0]:,.1f}-{values[-1]:,.1f})"

print()
print("| participants | runs | µs per round | participant CPU µs per round |")
print("|---|---|---|---|")
for lang, name in (("c", "C (liblockstep, lockstep_run)"), ("rust", "Rust (Runner)")):
    wall, cpu = [], []
    for path in sorted(out.glob(f"{lang}.*.jsonl")):
        lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        if len(lines) != procs or any(l["rounds"] == 0 for l in lines):
            sys.exit(f"{path}: {len(lines)} of {procs} participants reported rounds")
        wall.append(statistics.mean(l["wall_us"] / l["rounds"] for l in lines))
        cpu.append(statistics.mean(l["cpu_us"] / l["rounds"] for l in lines))
    print(f"| {procs} × {name} | {len(wall)} | {spread(wall)} | {spread(cpu)} |")
PY
