#!/usr/bin/env bash
# Measures the daemon: catch-up latency at a steady write rate, and CPU use with idle files.
# Everything runs on 127.0.0.1 and stops by itself.
#
# Usage: benches/daemon.sh [RATE] [SECONDS] [IDLE_FILES]    (defaults 200000 5 100)
# Exits with status 3 when a target is not met.
set -euo pipefail
cd "$(dirname "$0")/.."

rate=${1:-200000}
seconds=${2:-5}
idle_files=${3:-100}
work=$(mktemp -d)
cleanup() {
  [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
logtally=$(benches/release-binary.sh)
lines=$((rate * seconds))
python3 benches/genlog.py --format envoy --lines "$lines" > "$work/source.log"
mkdir "$work/logs"
: > "$work/logs/access.log"

"$logtally" run --rules rules/envoy.toml --logs "$work/logs/*.log" \
  --web.listen-address 127.0.0.1:0 2> "$work/stderr" &
pid=$!
for _ in $(seq 100); do
  grep -q 'address=' "$work/stderr" && break
  sleep 0.1
done
address=$(grep -o 'address=[0-9.:]*' "$work/stderr" | head -1 | cut -d= -f2)

# Write at the given rate in 100 batches per second, then time until every line is counted.
python3 - "$work/source.log" "$work/logs/access.log" "$rate" "$address" "$work/missed" <<'PY'
import sys, time, urllib.request

source, target, rate, address, missed = sys.argv[1:6]
rate = int(rate)
lines = open(source, "rb").read().splitlines(keepends=True)
batch = max(1, rate // 100)
start = time.monotonic()
with open(target, "ab", buffering=0) as out:
    for index in range(0, len(lines), batch):
        out.write(b"".join(lines[index:index + batch]))
        pause = start + (index + batch) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
last_write = time.monotonic()
written = len(lines)
print(f"wrote {written} lines in {last_write - start:.2f} s ({written / (last_write - start):.0f} lines/s)")

def counted():
    body = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in body.splitlines()
               if line.startswith("envoy_http_requests_total{"))

deadline = last_write + 30
latency = None
while time.monotonic() < deadline:
    if counted() >= written:
        latency = time.monotonic() - last_write
        print(f"all lines in the scrape {latency:.3f} s after the last write")
        break
    time.sleep(0.01)
else:
    print(f"only {counted()} of {written} lines counted 30 s after the last write")
met = latency is not None and latency <= 2
print(f"target {'met' if met else 'NOT MET'}: all lines in the scrape within 2 s of the last write")
if not met:
    open(missed, "w").close()
PY
kill "$pid"
wait "$pid" 2>/dev/null || true
unset pid

# Idle CPU: many followed files, no writes, CPU time over a quiet minute-long window.
mkdir "$work/idle"
for index in $(seq "$idle_files"); do : > "$work/idle/f$index.log"; done
"$logtally" run --rules rules/envoy.toml --logs "$work/idle/*.log" \
  --web.listen-address 127.0.0.1:0 2> /dev/null &
pid=$!
sleep 5
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
before=$(ticks)
sleep 60
after=$(ticks)
hz=$(getconf CLK_TCK)
awk -v t=$((after - before)) -v hz="$hz" -v files="$idle_files" -v missed="$work/missed" 'BEGIN {
  share = 100 * t / hz / 60
  printf "idle: %d files, %.3f CPU s in 60 s = %.3f %% of one core\n", files, t / hz, share
  printf "target %s: idle files under 0.5 %% of one core\n", share < 0.5 ? "met" : "NOT MET"
  if (share >= 0.5) printf "" > missed
}'
[[ ! -e "$work/missed" ]] || exit 3
