#!/usr/bin/env bash
# Renders the status page for the README: a conductor with its HTTP endpoint on, seven
# participants (`conductor join`) whose steps take from a few to a few hundred milliseconds,
# one that fails at step 3, one that says hello and falls silent (dropped for it), and a
# stranger refused for taking a member's id; then headless Chromium takes the picture at a
# laptop's width and at a phone's.
#
#   docs/monitoring/screenshot.sh [path/to/conductor]     # default: target/debug/conductor
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/debug/conductor}")
out=$(pwd)/docs/monitoring
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"$bin" --port 0 --http 127.0.0.1:0 --min-clients 7 --probe-after-ms 1000 \
  --drop-after-ms 4000 --status-json "" --status-txt "" > out.txt 2> log.txt &
pids+=($!)
for _ in $(seq 100); do [ "$(wc -l < out.txt)" -ge 2 ] && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*://p' out.txt)
http=$(sed -n 's/^http on //p' out.txt)

for n in 1 2 3 4 5 6 7; do
  "$bin" join --id "worker-$n" --port "$port" -- \
    sh -c "sleep 0.0\$(( (LOCKSTEP_STEP * $n + $n) % 10 ))" > /dev/null 2>&1 &
  pids+=($!)
done
"$bin" join --id flaky --port "$port" -- sh -c 'test "$LOCKSTEP_STEP" -lt 3' > /dev/null 2>&1 &
pids+=($!)
# One that says hello and falls silent, and a stranger who takes a member's id.
python3 - "$port" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
silent = socket.create_connection(("127.0.0.1", port))
silent.sendall(b"A1" + b"sleepy".ljust(12))
time.sleep(1)
twin = socket.create_connection(("127.0.0.1", port))
twin.sendall(b"A1" + b"worker-1".ljust(12))
time.sleep(30)
PY
pids+=($!)
sleep 8

shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile-$1" --hide-scrollbars --window-size="$2" \
    --virtual-time-budget=2500 --screenshot="$out/$1" "http://$http/" 2> /dev/null
}
shot status-page.png 1280,900
shot status-page-phone.png 390,1400
echo "wrote $out/status-page.png and $out/status-page-phone.png"
