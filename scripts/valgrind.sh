#!/usr/bin/env bash
# Runs zeta's test binaries and examples under valgrind's memcheck: any invalid read or
# write, use of uninitialised memory, invalid free or definitely lost block fails the
# run. Only definite leaks count (--errors-for-leak-kinds=definite; an indirectly lost
# block hangs off a definitely lost one). "Possibly lost" blocks do not: memcheck reports
# crossbeam-epoch's per-thread registration (kept in a global list through tagged
# pointers; crossbeam-deque uses it) and std's per-thread handle (kept through a pointer
# past the start of its block) as possibly lost. The price: a real leak reachable
# only through such an interior pointer would go unseen too. "Still reachable" blocks
# are not leaks (see VALGRIND below).
#
#   scripts/valgrind.sh            # every test binary (but zero_alloc), then every example
#   scripts/valgrind.sh tests      # only the test binaries
#   scripts/valgrind.sh examples   # only the examples
#
# Test binaries are the debug builds `cargo test` makes (with debug assertions on); the
# stress tests run at ZETA_STRESS_SCALE=0.01 (valgrind runs threads one at a time and
# some 20-50 times slower). Examples are release builds with debug info. Doc tests are not
# run (rustdoc builds them in its own temporary directory). Needs valgrind (Debian:
# `apt-get install valgrind`). Runs everything, names each failure, and exits non-zero
# if there was one.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 2; }

export ZETA_STRESS_SCALE="${ZETA_STRESS_SCALE:-0.01}"
export CARGO_TERM_COLOR=never
# Rust's own runtime keeps a few allocations for the life of the process (thread-local
# destructors of the main thread, the stdout buffer): "still reachable", not errors.
VALGRIND=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes
  --fair-sched=yes --quiet)

failed=0
run() {
  local name="$1"; shift
  local start=$SECONDS
  printf '=== %s\n' "$name"
  if "${VALGRIND[@]}" "$@"; then
    printf '    clean (%ds)\n' $((SECONDS - start))
  else
    printf '    FAILED: %s\n' "$name" >&2
    failed=1
  fi
}

if [[ "$what" == all || "$what" == tests ]]; then
  # The paths of the test executables, as cargo reports them.
  mapfile -t binaries < <(cargo test --workspace --no-run --message-format=json 2>/dev/null \
    | grep '"test":true' | grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
  [[ ${#binaries[@]} -gt 0 ]] || { echo "no test binaries found" >&2; exit 2; }
  for binary in "${binaries[@]}"; do
    # The zero_alloc binaries count global allocations, not memory errors, and pass a
    # million messages each: under valgrind they take minutes, and valgrind's serialised
    # threads let a worker take a burst of more than 64 jobs from the injector, which
    # grows its crossbeam-deque buffer (a known allocation; see BENCHMARKS.md). CI runs
    # them natively.
    case "$(basename "$binary")" in zero_alloc-*) printf '=== skipped %s\n' "$(basename "$binary")"; continue ;; esac
    # --test-threads=2: the tests of one binary run two at a time (valgrind serialises
    # threads anyway); each binary's own filters and ignores apply.
    run "test $(basename "$binary")" "$binary" --test-threads=2 -q
  done
fi

if [[ "$what" == all || "$what" == examples ]]; then
  cargo build --release --examples -q
  for example in inbox_pipeline balancer broadcast dataflow game_loop trading; do
    run "example $example" "target/release/examples/$example"
  done
fi

if [[ $failed -ne 0 ]]; then
  echo "valgrind: at least one run failed (see above)" >&2
  exit 1
fi
echo "valgrind: every run clean"
