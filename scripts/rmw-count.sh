#!/usr/bin/env bash
# Counts the instructions and the atomic read-modify-writes (RMWs) per message that zeta
# executes to pass a message to an idle actor, and the same for the floor (the
# hand-rolled single-threaded loop of benches/src/floor.rs). Instruction counts, not
# times: they do not move with the machine's load, and two runs print the same numbers.
#
#   scripts/rmw-count.sh                  # calibration, then floor, manual, sharing, local
#   scripts/rmw-count.sh manual sharing   # some modes
#   N=20000 scripts/rmw-count.sh          # round trips (iterations) per mode (default 50000)
#   FEATURES=observe scripts/rmw-count.sh manual manual-noop manual-runs manual-all
#                                         # the hooks: built with zeta's observe feature
#
# What runs: the release binary `rmw-probe` (benches/src/bin/rmw_probe.rs). Each mode
# repeats one shape N times after an unmeasured warm-up run:
#
#   fetch-add  calibration: one AtomicU64::fetch_add per iteration (must print 1.00)
#   rmw-mix    calibration: fetch_add + swap + compare_exchange per iteration (3.00)
#   floor      a ping-pong round trip on the floor (2 messages)
#   manual     a ping-pong round trip between two zeta actors on a ManualScheduler
#   sharing    the same on a started 1-worker SharingScheduler (the worker runs both)
#   local      the same between two local actors (zeta::local) on a LocalSystem driven
#              by the main thread: no atomic RMW may be on its path, so the script fails
#              (exit 1) if this mode counts any
#   manual-noop, manual-runs, manual-all
#              `manual` with the actors observed (needs FEATURES=observe): by a
#              NoopObserver (no frequent hook wanted), by a counter of runs, and by a
#              counter of runs and messages (each count one relaxed fetch_add: an RMW)
#
# Every message goes to an idle actor: the receiver has nothing else queued and is not
# running, so each send schedules it.
#
# Method. The probe runs under `valgrind --tool=callgrind --collect-atstart=no`; it
# switches collection on and off itself with callgrind's client request
# CALLGRIND_TOGGLE_COLLECT (valgrind.h's instruction sequence, written inline: no
# crate needed). In the actor modes the pinger toggles in its own handler, right
# before its first ping and at the same point of the handler of its last pong, so the
# window is exactly 2N whole message cycles on the thread that runs the actors
# (callgrind's collection state is per thread: on the SharingScheduler that is the
# worker; the main thread, parked on the run's answer, is not counted). With
# --dump-instr=yes callgrind writes the execution count of every instruction address
# it saw in the window ("Ir" per address; --compress-pos=no and --compress-strings=no
# keep the file plain), as an address inside its ELF object (the load bias
# subtracted), which is what `objdump -d` prints for that object. The script sums the
# counts (the self cost lines; a `calls=` line's following line, an inclusive cost, is
# skipped), disassembles every object that has costs, and adds up the counts of the
# instructions that are atomic RMWs on x86-64: every `lock`-prefixed instruction
# (lock cmpxchg, lock xadd, lock add/inc/dec/or/and/bts, ...) and every `xchg` with a
# memory operand (implicitly locked; `xchg` between registers is not). Plain loads and
# stores, even SeqCst stores compiled to `xchg`, are counted when they are that `xchg`:
# they are RMWs to the hardware. Dividing by the messages (iterations) the probe
# reports gives the figures. The calibration modes check the method end to end:
# exactly one RMW per fetch_add loop iteration, three for the mix (xadd or add,
# xchg, cmpxchg).
#
# Instructions are user-space instructions only (the kernel's are not seen by
# valgrind), each counted once, whatever it costs; an RMW is also counted in
# instructions. Under valgrind the threads of the process run one at a time, so the
# sharing mode shows the single-worker path without any contention. Below each mode's
# line, one line per RMW instruction: its count per message (or iteration), the
# instruction, and the function it is in (after inlining: a send inlined into a
# handler shows under the function that called the handler). Sites under 0.005 per
# message are not listed (they are in the total).
#
# Checked on this machine: the calibration modes print 1.00 and 3.00; the sharing
# mode run with --separate-threads=yes gives the main thread a count of 0 and the
# worker all of it; two runs print the same numbers.
#
# Needs valgrind (Debian: apt-get install valgrind), objdump (binutils) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in valgrind objdump python3 cargo; do
  command -v "$tool" >/dev/null || { echo "rmw-count: $tool not found" >&2; exit 2; }
done

N="${N:-50000}"
modes=("$@")
[[ ${#modes[@]} -gt 0 ]] || modes=(fetch-add rmw-mix floor manual sharing local)
for mode in "${modes[@]}"; do
  case "$mode" in
    fetch-add | rmw-mix | floor | manual | sharing | local) ;;
    manual-noop | manual-runs | manual-all) ;;
    *) echo "rmw-count: unknown mode $mode (fetch-add rmw-mix floor manual sharing local" \
      "manual-noop manual-runs manual-all)" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -q -p zeta-bench --bin rmw-probe ${FEATURES:+--features "$FEATURES"}
probe="$PWD/target/release/rmw-probe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "rmw-count: N = $N, $(valgrind --version), $(rustc --version)"
for mode in "${modes[@]}"; do
  out="$work/$mode.callgrind"
  # The probe's last line: "<mode> <per> <count>".
  last="$(valgrind --tool=callgrind --collect-atstart=no --dump-instr=yes --dump-line=no \
    --compress-strings=no --compress-pos=no --callgrind-out-file="$out" \
    "$probe" "$mode" "$N" 2>"$work/$mode.log" | tail -n 1)" || {
    cat "$work/$mode.log" >&2
    echo "rmw-count: $mode failed" >&2
    exit 1
  }
  read -r _ per count <<<"$last"
  python3 - "$out" "$mode" "$per" "$count" <<'PY'
import collections, os, re, subprocess, sys

path, mode, per, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# Self cost per (object, address), and the function each address belongs to.
cost = collections.Counter()
function = {}
ob = fn = None
skip = False
with open(path) as f:
    for line in f:
        if skip:  # the inclusive cost of a call: not this address's own
            skip = False
            continue
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("calls="):
            skip = True
        elif line.startswith("0x"):
            address, ir = line.split()[:2]
            key = (ob, int(address, 16))
            cost[key] += int(ir)
            function[key] = fn

# Each object's instructions, as objdump prints them.
instruction = {}
unknown = 0
for obj in sorted({ob for ob, _ in cost}):
    if not os.path.isfile(obj):
        unknown += sum(n for (o, _), n in cost.items() if o == obj)
        continue
    dump = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj],
                          capture_output=True, text=True, check=True).stdout
    for text in dump.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(.*)$", text)
        if m:
            instruction[(obj, int(m.group(1), 16))] = m.group(2).split("#")[0].strip()

def is_rmw(text):
    words = text.split()
    if "lock" in words:
        return True
    mnemonic = next((w for w in words if w not in ("rex", "rex.W", "data16", "cs", "ds")), "")
    return mnemonic.startswith("xchg") and "(" in text

total = sum(cost.values())
rmw = 0
sites = collections.Counter()
for key, n in cost.items():
    text = instruction.get(key)
    if text is None:
        unknown += n
    elif is_rmw(text):
        rmw += n
        sites[(function[key], " ".join(text.split()))] += n

print(f"{mode:<9} {count:>9} {per}s: {total / count:8.1f} instructions/{per}, "
      f"{rmw / count:5.2f} RMW/{per}")
for (fn, text), n in sorted(sites.items(), key=lambda s: (-s[1], s[0])):
    if n / count >= 0.005:
        print(f"    {n / count:5.2f}  {text:<34} {fn}")
if unknown:
    print(f"    ({unknown} instructions in objects or at addresses objdump could not "
          f"show: not checked for RMWs)")
# Local actors promise no atomic read-modify-write on the message path.
if mode == "local" and (rmw or unknown):
    print(f"rmw-count: the local path made {rmw} atomic RMWs ({unknown} instructions "
          f"unchecked); it must make none", file=sys.stderr)
    sys.exit(1)
PY
done
