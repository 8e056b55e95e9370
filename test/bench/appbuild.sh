#!/usr/bin/env bash
# appbuild.sh — generate and build times for the app corpus (root). Not part
# of `make test`.
#
# For each app of the corpus (tools/appgen/testdata/corpus): `fatbox
# dockerfile`, then `fatbox image build --dockerfile`,
# all apps one after another on a daemon with an empty layer cache (cold),
# then again (cached). The base images come from the recipe cache (built
# first if missing, not timed); .debs fetched on the host stay in
# /var/cache/fatbox/apt, so "cold" means a cold layer cache, warm apt cache.
# Printed: per app generate / cold / cached seconds, the totals, and the
# ratio cached/cold (goal <= 0.1); then a container of each app image
# (pool 198.19.62.0/24 on a bridge of its own) and the seconds until it
# answers its expect.json's port, path and body from the host (every app
# must); and the store's cost per image against a
# baseline measured in this run: `cp -a` of debian12-fat's rootfs, what a
# store that copies the base into every app image would pay (goal: ratio
# <= 0.5).
#   test/bench/appbuild.sh
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "appbuild.sh: run as root (the builder mounts overlays and runs runc)" >&2; exit 1; }
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

tmp=$(mktemp -d); chmod 755 "$tmp"
dpid="" br="fbab$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')" made=()
cleanup() {
  if [[ -n $dpid ]]; then
    for c in "${made[@]}"; do fb rm "$c" >/dev/null 2>&1 || echo "appbuild.sh: could not remove $c" >&2; done
    fb pool rm ab --force >/dev/null 2>&1 || true
    kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true
  fi
  ip link del "$br" 2>/dev/null || true
  # The daemon's lxcfs outlives it on purpose: stop it and unmount its view first.
  if [[ -f $tmp/state/lxcfs.pid ]]; then kill -9 "$(cat "$tmp/state/lxcfs.pid")" 2>/dev/null || true; fi
  umount -l "$tmp/state/lxcfs" 2>/dev/null || true
  rmdir "/run/fatbox/runc-$(printf %s "$tmp/state" | sha256sum | cut -c1-12)" 2>/dev/null || true # daemon.RuncRoot
  if grep -q " $tmp/" /proc/self/mountinfo; then echo "appbuild.sh: mounts left under $tmp; not removing it" >&2; return; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

make -s supervisord vmshim >/dev/null
go build -o "$tmp/fatbox" ./tools/fatbox
fb() { "$tmp/fatbox" --socket "$tmp/sock" "$@"; }
now() { date +%s.%N; }
"$tmp/fatbox" daemon --state-dir "$tmp/state" --socket "$tmp/sock" --config /dev/null --metrics-listen off \
  --supervisord "$PWD/bin/supervisord" >"$tmp/daemon.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do fb status >/dev/null 2>&1 && break; sleep 0.1; done
for r in debian12-fat debian12-php debian12-java; do fb image build "$r" >/dev/null 2>&1; done

apps=()
corpus=tools/appgen/testdata/corpus
[[ -d $corpus ]] || { echo "appbuild.sh: no corpus at $corpus (the generator, tools/appgen)" >&2; exit 1; }
mkdir -p "$tmp/ctx"
for d in "$corpus"/*/; do
  a=$(basename "$d")
  t0=$(now)
  fb dockerfile "$d" --out "$tmp/ctx/$a" >/dev/null 2>"$tmp/gen-$a.log" || { echo "generate $a failed: $(tail -1 "$tmp/gen-$a.log")" >&2; continue; }
  gen[${#apps[@]}]=$(echo "$(now) - $t0" | bc)
  apps+=("$a")
done

build() { # app pass -> seconds
  local t0; t0=$(now)
  fb image build --dockerfile "$tmp/ctx/$1/Dockerfile" --context "$tmp/ctx/$1" --name "bench-$1:v1" >/dev/null 2>"$tmp/build-$1-$2.log" \
    || { echo "build $1 ($2) failed: $(tail -3 "$tmp/build-$1-$2.log")" >&2; echo -1; return; }
  echo "$(now) - $t0" | bc
}
printf '%-20s %9s %9s %9s\n' APP GENERATE COLD CACHED
tg=0; tc=0; tw=0
for i in "${!apps[@]}"; do
  a=${apps[$i]}
  cold=$(build "$a" cold); warm=$(build "$a" cached)
  grep -q "is up to date" "$tmp/build-$a-cached.log" || echo "  $a: the second build was not fully cached" >&2
  printf '%-20s %9.2f %9.2f %9.2f\n' "$a" "${gen[$i]}" "$cold" "$warm"
  tg=$(echo "$tg + ${gen[$i]}" | bc); tc=$(echo "$tc + $cold" | bc); tw=$(echo "$tw + $warm" | bc)
done
printf '%-20s %9.2f %9.2f %9.2f\n' TOTAL "$tg" "$tc" "$tw"
echo "cached/cold: $(echo "scale=3; $tw / $tc" | bc) (goal <= 0.1)"

# Every app image answers: a container each, its expect.json asked from the host.
fb pool create ab --cidr 198.19.62.0/24 --bridge "$br" --create-bridge >/dev/null
echo "== a container of each app (its port, path and body from expect.json)"
fails=0
for a in "${apps[@]}"; do
  fb create "ab-$a" --image "bench-$a:v1" --pool ab --cpus 0.5 --memory 768M >/dev/null 2>"$tmp/create-$a.log" \
    || { echo "  $a: create failed: $(tail -1 "$tmp/create-$a.log")" >&2; fails=$((fails + 1)); continue; }
  made+=("ab-$a")
done
for a in "${apps[@]}"; do
  [[ " ${made[*]} " == *" ab-$a "* ]] || continue
  exp=$corpus/$a/expect.json
  port=$(jq -r .port "$exp") path=$(jq -r .path "$exp") body=$(jq -r .body "$exp")
  ip=$(fb inspect "ab-$a" | jq -r .ip)
  t0=$(now) ok=0
  while (( $(echo "$(now) - $t0 < 180" | bc) )); do
    if [[ "$(curl -s --max-time 2 "http://$ip:$port$path")" == *"$body"* ]]; then ok=1; break; fi
    sleep 0.5
  done
  if (( ok )); then printf '  %-16s answers "%s" on :%s in %.1fs\n' "$a" "$body" "$port" "$(echo "$(now) - $t0" | bc)"
  else echo "  $a: no answer $body on $ip:$port$path within 180 s" >&2; fails=$((fails + 1)); fi
done
echo "apps answering: $(( ${#apps[@]} - fails )) of ${#apps[@]}"

# The store's cost of one app image against copying the base.
store=$(grep -ho 'stored in [0-9.]*s' "$tmp"/build-*-cold.log | awk '{s+=$3+0; n++} END {if (n) printf "%.2f", s/n; else print 0}')
base=$(readlink -f "$tmp/state/images/names/debian12-fat")/rootfs
t0=$(now); cp -a "$base" "$tmp/copy"; sync; copy=$(echo "$(now) - $t0" | bc); rm -rf "$tmp/copy"
echo "store per image: ${store}s; baseline cp -a of debian12-fat: ${copy}s; ratio $(echo "scale=3; $store / $copy" | bc) (goal <= 0.5)"
(( fails == 0 )) || exit 1
