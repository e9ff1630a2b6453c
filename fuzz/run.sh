#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 120) each, one after the other, starting from the
# committed seeds (fuzz/seeds/<target>) and the local corpus (fuzz/corpus/<target>, not
# committed). Needs a nightly toolchain and cargo-fuzz. Prints each target's last status line
# (executions, coverage); exits non-zero on the first crash, leaving the input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-120}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$seconds" \
      -max_len=70000 -print_final_stats=1 >"logs/$t.log" 2>&1; then
    echo "fuzz: $t FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
    tail -30 "logs/$t.log" >&2
    exit 1
  fi
  echo "fuzz: $t: $(grep -aE '^#[0-9]+[[:space:]]+DONE' "logs/$t.log" | tail -1)" >&2
done
