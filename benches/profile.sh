#!/usr/bin/env bash
# Per-round costs of a server, counted rather than timed, so they hold on a noisy machine:
# user-space instructions (valgrind's callgrind) and system calls (strace -c), each divided by
# the waves run. The server runs under the tool while `conductor bench` drives it.
#
#   benches/profile.sh [conductor|baseline] [CLIENTS] [ROUNDS] [callgrind|strace]
#
# Defaults: conductor, 3 clients, 2000 rounds, callgrind. CLIENTS written pN (p16) runs one
# client per process. The callgrind output is kept in
# target/profile/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-conductor}
clients=${2:-3}
spread=(--clients "$clients")
if [[ $clients == p* ]]; then
  clients=${clients#p}
  spread=(--procs "$clients")
fi
rounds=${3:-2000}
tool=${4:-callgrind}
warmup=5
waves=$((warmup + rounds + 1))

cargo build --release --quiet --bin conductor --example raw_barrier
bin=target/release/conductor
out=target/profile
mkdir -p "$out"
rm -f "$out/listening" "$out/callgrind.out"

case "$tool" in
  callgrind) wrap=(valgrind --tool=callgrind "--callgrind-out-file=$out/callgrind.out") ;;
  strace) wrap=(strace -f -c -o "$out/strace.txt") ;;
  *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
case "$target" in
  conductor)
    printf '{"host":"127.0.0.1","port":0,"min_clients":%d,"max_clients":%d,"rounds":%d,"status_txt":"","status_json":""}' \
      "$clients" "$clients" "$waves" > "$out/config.json"
    server=("$bin" --config "$out/config.json" --log-file "$out/conductor.log") ;;
  baseline) server=(target/release/examples/raw_barrier --clients "$clients") ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac

"${wrap[@]}" "${server[@]}" > "$out/listening" 2> "$out/tool.log" &
server_pid=$!
for _ in $(seq 600); do
  grep -q '^listening on' "$out/listening" 2>/dev/null && break
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$out/listening")
"$bin" bench --addr "$addr" "${spread[@]}" --rounds "$rounds" --warmup "$warmup" > /dev/null
wait "$server_pid" || true

case "$tool" in
  callgrind)
    total=$(callgrind_annotate "$out/callgrind.out" | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "$target clients=$clients waves=$waves instructions=$total per_wave=$((total / waves))" ;;
  strace)
    calls=$(awk '$NF == "total" { print $(NF-2) }' "$out/strace.txt")
    echo "$target clients=$clients waves=$waves syscalls=$calls per_wave=$((calls / waves))"
    awk '$4 ~ /^[0-9]+$/ && $NF != "total" { printf "  %-14s %s\n", $NF, $4 }' "$out/strace.txt" |
      sort -k2 -n -r | head -6 ;;
esac
