#!/usr/bin/env bash
# setup-host.sh — install what fatbox needs on a Debian 12 host. Idempotent.
#
#   tools/setup-host.sh            run-time packages (runc, lxcfs, mmdebstrap, iproute2, ...)
#   tools/setup-host.sh --test     also what the test tiers need: mariadb-server, prometheus (promtool), asciinema, rsync, the OpenSSH
#                                  client and server, ansible-core, the JDK (rebuilds tools/appgen's test jars), a Consul binary built from the
#                                  Go module proxy (cached in $FATBOX_CACHE, default /var/cache/fatbox)
#                                  and the .deb files e2e tests install in containers ($FATBOX_CACHE/debs)
#
# Prints where the Consul binary is on its last line when --test is given.
set -euo pipefail

want_test=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup-host.sh: unknown argument \"$a\": use --test or nothing" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "setup-host.sh: must run as root (it installs Debian packages): run it with sudo" >&2
  exit 1
fi

CACHE=${FATBOX_CACHE:-/var/cache/fatbox}
CONSUL_VERSION=${FATBOX_CONSUL_VERSION:-1.20.6}
mkdir -p "$CACHE"

# apt-utils: apt-ftparchive makes the local repository a Dockerfile's RUN apt-get install sees.
runtime_pkgs=(runc lxcfs mmdebstrap iproute2 openssh-client e2fsprogs util-linux ca-certificates apt-utils)
test_pkgs=(mariadb-server mariadb-client openssh-server openssh-sftp-server rsync asciinema tcpdump iputils-ping nftables bsdutils jq stress-ng ansible-core systemd bind9-dnsutils prometheus openjdk-17-jdk-headless)

pkgs=("${runtime_pkgs[@]}")
if [ "$want_test" = 1 ]; then pkgs+=("${test_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  stamp="$CACHE/apt-updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup-host: Debian packages present"
fi

# The daemon's socket is root:fatbox 0660: members of the group may drive it.
if ! getent group fatbox >/dev/null; then
  groupadd --system fatbox
  echo "setup-host: created group fatbox (its members may use the fatbox daemon's socket)"
fi

if [ "$want_test" = 1 ]; then
  consul="$CACHE/consul-$CONSUL_VERSION"
  if [ ! -x "$consul" ]; then
    echo "setup-host: building Consul $CONSUL_VERSION from the Go module proxy (about 5 minutes, once)"
    start=$(date +%s)
    build="$CACHE/consul-build-$CONSUL_VERSION"
    rm -rf "$build"; mkdir -p "$build"
    (
      cd "$build"
      go mod init fatbox.local/consul-tools >/dev/null 2>&1
      GONOSUMDB=github.com/hashicorp GOFLAGS=-mod=mod go get "github.com/hashicorp/consul@v$CONSUL_VERSION" >/dev/null
      GONOSUMDB=github.com/hashicorp GOFLAGS=-mod=mod go build -o "$consul.tmp" github.com/hashicorp/consul
    )
    mv "$consul.tmp" "$consul"
    rm -rf "$build"
    echo "setup-host: Consul built in $(( $(date +%s) - start ))s"
  fi
  ln -sfn "$consul" "$CACHE/consul"

  # Containers have no route to the internet: e2e tests copy these .deb files in and
  # install them there (test/e2e/vmparity_test.go: nginx through the systemctl shim).
  # Only what debian12-fat lacks: nginx's and rsync's other dependencies are in the image.
  debs="$CACHE/debs"
  deb_pkgs=(nginx nginx-common rsync) # rsync: test/e2e/gateway (rsync through the SSH gateway)
  need=()
  for p in "${deb_pkgs[@]}"; do
    compgen -G "$debs/${p}_*.deb" >/dev/null || need+=("$p")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    need=("${deb_pkgs[@]}") # all of them again: their versions must match each other
    echo "setup-host: fetching ${need[*]} .deb files into $debs"
    mkdir -p "$debs"
    for p in "${need[@]}"; do rm -f "$debs/${p}_"*.deb; done
    dl=$(mktemp -d "$CACHE/debs-dl.XXXXXX")
    chmod 755 "$dl"; chown _apt "$dl" 2>/dev/null || true
    if ! (cd "$dl" && apt-get download -qq "${need[@]}" >/dev/null 2>&1); then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      touch "$CACHE/apt-updated"
      (cd "$dl" && apt-get download -qq "${need[@]}" >/dev/null)
    fi
    mv "$dl"/*.deb "$debs"/
    rm -rf "$dl"
  fi
  echo "consul: $CACHE/consul"
fi
