#!/usr/bin/env bash
# Compares logtally with mtail on the same Envoy log: both count it with equivalent rules
# (rules/envoy.toml and benches/envoy.mtail), the request counts must agree, and the script
# prints lines per CPU-second, their ratio, and the peak resident memory of each. Last, it
# times logtally on two copies of the log at once against one.
#
# Usage: benches/compare-mtail.sh [LINES]     (default 1000000)
# Installs Debian's mtail when it is missing. mtail listens only on 127.0.0.1 here. Exits with
# status 3 when a target is not met. Fewer lines than the default make every figure noisier.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! command -v mtail >/dev/null; then
  apt-get update -qq && apt-get install -y -qq mtail >/dev/null
fi
if ! command -v /usr/bin/time >/dev/null || ! /usr/bin/time -f '' true 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

echo "Generating $lines Envoy lines..."
python3 benches/genlog.py --format envoy --lines "$lines" > "$work/envoy.log"
cargo build --release --quiet
logtally=$(benches/release-binary.sh)

# Runs a command, keeping its output, and prints "user+sys seconds, peak KiB". GNU time gives
# the peak memory, and bash's `time` the CPU time in milliseconds, where GNU time rounds to 10.
measure() {
  local output=$1
  shift
  local TIMEFORMAT='%3U %3S'
  { time /usr/bin/time -f '%M' -o "$work/peak" "$@" > "$output" 2> "$work/stderr"; } \
    2> "$work/cpu" || {
    cat "$work/stderr" >&2
    return 1
  }
  awk -v peak="$(cat "$work/peak")" '{ printf "%.3f %d\n", $1 + $2, peak }' "$work/cpu"
}

# One run first, so both tools find the log in the page cache.
"$logtally" once --rules rules/envoy.toml "$work/envoy.log" > /dev/null 2>&1

read -r logtally_cpu logtally_kib < <(measure "$work/logtally.prom" \
  "$logtally" once --rules rules/envoy.toml "$work/envoy.log")

mkdir "$work/progs"
cp benches/envoy.mtail "$work/progs/"
read -r mtail_cpu mtail_kib < <(measure "$work/mtail.prom" \
  mtail --one_shot --one_shot_format prometheus --progs "$work/progs" \
  --logs "$work/envoy.log" --address 127.0.0.1 --port 0 --logtostderr)

# Request counts must agree series for series; label order differs, so sort the labels.
python3 - "$work/logtally.prom" "$work/mtail.prom" <<'PY'
import re
import sys

def requests(path):
    counts = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.startswith("envoy_http_requests_total{"):
            continue
        series, value = line.rsplit(" ", 1)
        labels = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', series)
        key = tuple(sorted((name, value) for name, value in labels if name != "prog"))
        counts[key] = counts.get(key, 0) + float(value)
    return counts

logtally, mtail = requests(sys.argv[1]), requests(sys.argv[2])
if logtally != mtail:
    only = set(logtally.items()) ^ set(mtail.items())
    print(f"request counts differ in {len(only)} series, for example {sorted(only)[:3]}")
    sys.exit(1)
print(f"request counts agree: {len(logtally)} series, {int(sum(logtally.values()))} requests")
PY

# Two files at once against one, by wall-clock time: the best of three runs of each.
cp "$work/envoy.log" "$work/envoy-copy.log"
best_wall() {
  local best=""
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    best=$(awk -v a="$best" -v b="$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')" \
      'BEGIN { print (a == "" || b < a) ? b : a }')
  done
  echo "$best"
}
one_wall=$(best_wall "$logtally" once --rules rules/envoy.toml "$work/envoy.log")
two_wall=$(best_wall "$logtally" once --rules rules/envoy.toml "$work/envoy.log" \
  "$work/envoy-copy.log")

awk -v lines="$lines" -v lc="$logtally_cpu" -v lk="$logtally_kib" -v mc="$mtail_cpu" -v mk="$mtail_kib" \
  -v one="$one_wall" -v two="$two_wall" -v cores="$(nproc)" 'BEGIN {
  # A run too short to register a millisecond counts as one.
  lr = lines / (lc > 0 ? lc : 0.001); mr = lines / (mc > 0 ? mc : 0.001)
  printf "%-9s %12s %16s %12s\n", "tool", "CPU s", "lines/CPU-s", "peak MiB"
  printf "%-9s %12.3f %16.0f %12.1f\n", "logtally", lc, lr, lk / 1024
  printf "%-9s %12.3f %16.0f %12.1f\n", "mtail", mc, mr, mk / 1024
  printf "logtally handles %.1f times mtail'"'"'s lines per CPU-second\n", lr / mr
  printf "two files at once (%d cores): %.2f times one file'"'"'s throughput (%.3f s vs %.3f s)\n",
    cores, 2 * one / two, two, one
  verdict(lr / mr >= 12, "at least 12 times mtail'"'"'s lines per CPU-second")
  verdict(lr >= 1000000, "at least 1,000,000 lines per CPU-second")
  verdict(lk * 1024 <= 20000000, "peak resident memory at most 20 MB")
  verdict(2 * one / two >= 1.7, "two files at least 1.7 times one file'"'"'s throughput")
  exit missed ? 3 : 0
}
function verdict(met, target) {
  printf "target %s: %s\n", met ? "met" : "NOT MET", target
  if (!met) missed = 1
}'
