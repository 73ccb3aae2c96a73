# Shared by the benchmark scripts (sourced, not run): where a script keeps its reports and
# which conductor it runs.

# results_dir NAME: makes target/bench-results/NAME-<UTC time> and prints its path.
results_dir() {
  local dir
  dir=target/bench-results/$1-$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$dir"
  echo "$dir"
}

# conductor_bin: the binary to run: $BIN when set, else a release build made now.
conductor_bin() {
  if [ -n "${BIN:-}" ]; then
    echo "$BIN"
  else
    cargo build --release --quiet --bin conductor
    echo target/release/conductor
  fi
}
