#!/usr/bin/env bash
# Runs slirp4netns's own test suite (tests/*.sh of rootless-containers/slirp4netns, what its
# `make check` runs) against tslirp, or against the real slirp4netns with --reference.
#
#   scripts/upstream-tests.sh [--reference|--node] PATH-TO-SLIRP4NETNS-CHECKOUT [TEST-NAME...]
#
# As upstream's CI does (a container, uid 1000): as root, this script makes a network, mount and PID
# namespace of its own, then runs each test as uid 1000 with a `slirp4netns` wrapper first in PATH
# (exec bin/tslirp "$@", the native launcher clients are given; with --node, or when it is not
# built, exec node bin/tslirp.js "$@"). The tests make their own user+network namespaces
# with `unshare -r -n`. The namespace has what a container has: loopback, an interface with an
# address (192.0.2.1, read by the outbound-addr test) and a default route, here into a veth pair
# whose other end is also ours and forwards nothing, so what slirp4netns sends to the host's
# network for a guest (10.0.2.3 under --disable-dns) is dropped inside it and times out, as in
# upstream's CI, without leaving it; a private /dev/net/tun node uid 1000 may open. Every process a
# test leaves behind dies with the PID namespace. Needs: ncat, udhcpc, iputils-ping, libcap2-bin
# (getpcaps), jq, iproute2, util-linux.
# Prints one line per test (PASS/FAIL/SKIP) and a summary; exits non-zero if any test failed.
# UPSTREAM_TESTS_LOGS=DIR keeps each test's log there. We do not ship their code: point this at a
# checkout of it.
set -uo pipefail

reference=0
via_node=0
while :; do
  case "${1:-}" in
    --reference) reference=1; shift ;;
    --node) via_node=1; shift ;;
    *) break ;;
  esac
done
checkout="${1:?usage: $0 [--reference|--node] PATH-TO-SLIRP4NETNS-CHECKOUT [TEST-NAME...]}"
shift
checkout="$(cd "$checkout" && pwd)" || exit 2
repo="$(cd "$(dirname "$0")/.." && pwd)"
test_uid="${UPSTREAM_TEST_UID:-1000}"

if [ "$(id -u)" != 0 ]; then echo "upstream-tests: run as root (it makes a network namespace)" >&2; exit 2; fi
if [ ! -f "$checkout/tests/common.sh" ]; then echo "upstream-tests: no tests/common.sh in $checkout" >&2; exit 2; fi

if [ "$#" -gt 0 ]; then
  tests=()
  for name in "$@"; do tests+=("$checkout/tests/test-slirp4netns-$name.sh"); done
else
  tests=("$checkout"/tests/test-slirp4netns-*.sh)
fi

work="$(mktemp -d /tmp/tslirp-upstream-tests-XXXXXX)"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
if [ "$reference" = 1 ]; then
  ln -s "$(command -v slirp4netns)" "$work/bin/slirp4netns"
else
  # What clients are given: the native launcher bin/tslirp when it is built, else the CLI on Node.
  if [ "$via_node" = 0 ] && [ -x "$repo/bin/tslirp" ]; then runner="$repo/bin/tslirp"; else runner="node $repo/bin/tslirp.js"; fi
  printf '#!/bin/sh\nexec %s "$@"\n' "$runner" >"$work/bin/slirp4netns"
  chmod 755 "$work/bin/slirp4netns"
fi

# Everything below runs inside the new network + mount namespace.
inner() {
  set -u
  mount --make-rprivate /
  ip link set lo up
  ip link add s4nn0 type veth peer name s4nn1
  ip addr add 192.0.2.1/24 dev s4nn0
  ip link set s4nn0 up
  ip link set s4nn1 up
  # The gateway is the peer end's MAC, answered by nobody: frames to it arrive on s4nn1, which has
  # no address and does not forward, and are dropped there.
  ip neigh add 192.0.2.2 lladdr "$(ip -o link show s4nn1 | sed -n 's#.*link/ether \([0-9a-f:]*\).*#\1#p')" dev s4nn0 nud permanent
  ip route add default via 192.0.2.2 dev s4nn0
  sysctl -qw net.ipv4.ip_forward=0
  mkdir "$work/dev"
  mount -t tmpfs -o mode=755 tmpfs "$work/dev"
  mknod -m 666 "$work/dev/tun" c 10 200
  mount --bind "$work/dev/tun" /dev/net/tun
  passed=0 failed=0 skipped=0
  for script in "${tests[@]}"; do
    name="$(basename "$script" .sh)"; name="${name#test-slirp4netns-}"
    rundir="$work/run-$name"
    mkdir "$rundir" && chown "$test_uid:$test_uid" "$rundir"
    (cd "$rundir" && timeout -k 5 180 setpriv --reuid="$test_uid" --regid="$test_uid" --clear-groups \
      --inh-caps=-all env -i HOME="$rundir" PATH="$work/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
      bash "$script" >"$work/$name.log" 2>&1)
    status=$?
    if [ -n "${UPSTREAM_TESTS_LOGS:-}" ]; then mkdir -p "$UPSTREAM_TESTS_LOGS" && cp "$work/$name.log" "$UPSTREAM_TESTS_LOGS/"; fi
    case $status in
      0) passed=$((passed + 1)); echo "PASS $name" ;;
      77) skipped=$((skipped + 1)); echo "SKIP $name" ;;
      *) failed=$((failed + 1)); echo "FAIL $name (status $status; last lines:)"; tail -n 8 "$work/$name.log" | sed 's/^/    /' ;;
    esac
  done
  echo "upstream tests against $([ "$reference" = 1 ] && echo "slirp4netns ($(slirp4netns -v | head -n1))" || echo "tslirp ($(sed -n 's/^exec \(.*\) "$@"$/\1/p' "$work/bin/slirp4netns"))"): $passed passed, $failed failed, $skipped skipped of ${#tests[@]}"
  [ "$failed" = 0 ]
}
export -f inner
export work reference repo test_uid
# Descriptors we inherited (a `flock LOCK scripts/upstream-tests.sh` lock among them) must not
# reach a process a test leaves running; closing our copies leaves the caller's lock held.
for fd in /proc/$$/fd/*; do
  fd="${fd##*/}"
  if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null; fi
done
# Arrays cannot be exported: pass the test list as arguments. --pid --fork: whatever a test leaves
# running ends with the namespace when inner returns.
unshare --net --mount --pid --fork --mount-proc bash -c 'tests=("$@"); inner' inner "${tests[@]}"
