#!/usr/bin/env bash
# with-pcscd.sh: run a command next to a private pcscd with vpcd readers.
#
#   piv/scripts/with-pcscd.sh [--card] [--state FILE] [--serial N]
#                             [--version X.Y.Z] [--host-net] [--] CMD [ARG...]
#
# CMD runs inside new mount, network and PID namespaces (unshare) in which
# /run/pcscd is a private tmpfs and a pcscd of our own serves two vpcd
# readers named "Yubico YubiKey Virtual 00 00" (TCP 35963) and "... 00 01"
# (35964); the name lets piv-go's tests and ykcs11 (which want "yubikey" /
# "Yubico" in it) find them. pcscd 1.9.9 hard-codes /run/pcscd, so a
# private mount is the only way to run one beside a system pcscd, and the
# private network keeps vpcd's ports (bound on 0.0.0.0) off the host.
# Clients must run inside to see it, hence "run CMD inside".
#
# --host-net keeps the host's network (for a CMD that needs more than
# loopback); vpcd's ports then live on the host and must be free.
# --card also starts the virtualcard process on 35963 (and waits until
# pcscd sees it); Go tests using piv/pivtest then get 35964.
# With PCSCD_DEBUG=1 pcscd logs APDUs; logs are in $PIV_STATE_DIR
# (default .tmp/piv) as pcscd.log and card.log.
#
# Needs root (unshare --mount). The exit status is CMD's; 2 is a usage or
# setup error of this script.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state_dir=${PIV_STATE_DIR:-$root/.tmp/piv}

die() { echo "with-pcscd: $*" >&2; exit 2; }

if [[ -z ${_WITH_PCSCD_INNER:-} ]]; then
	card=0 net=--net
	args=("$@")
	while [[ $# -gt 0 ]]; do
		case $1 in
		--card) card=1; shift ;;
		--host-net) net=; shift ;;
		--state|--serial|--version) shift 2 || die "$1 needs a value" ;;
		--) shift; break ;;
		-*) die "unknown option $1" ;;
		*) break ;;
		esac
	done
	[[ $# -gt 0 ]] || die "usage: with-pcscd.sh [--card] [--state FILE] [--serial N] [--version X.Y.Z] [--host-net] [--] CMD [ARG...]"
	[[ $(id -u) == 0 ]] || die "needs root for unshare --mount (pcscd hard-codes /run/pcscd)"
	command -v pcscd >/dev/null || die "pcscd not installed (apt-get install pcscd vsmartcard-vpcd)"
	[[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ]] || die "vpcd driver missing (apt-get install vsmartcard-vpcd)"
	mkdir -p "$state_dir"
	if [[ $card == 1 && -z ${VIRTUALCARD_BIN:-} ]]; then
		# Build outside the namespace: inside there is no network for
		# the Go toolchain to reach should it want to.
		(cd "$root" && go build -o "$state_dir/virtualcard" ./piv/virtualcard/cmd/virtualcard) ||
			die "building virtualcard failed"
		export VIRTUALCARD_BIN=$state_dir/virtualcard
	fi
	export _WITH_PCSCD_INNER=1 PIV_STATE_DIR=$state_dir
	# A private PID namespace too: when this script (its init) exits,
	# the kernel kills whatever CMD left running, so nothing outlives it.
	if [[ -z $net ]] && (exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null; then
		die "--host-net: port 35963 is taken on the host (a system pcscd with vpcd?)"
	fi
	exec unshare --mount $net --pid --fork --mount-proc -- "$0" "${args[@]}"
fi

# Inside the namespace from here on.
card=0 card_args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--card) card=1; shift ;;
	--host-net) shift ;;
	--state|--serial|--version) card_args+=("$1" "$2"); shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
unset _WITH_PCSCD_INNER

ip link set lo up 2>/dev/null || true # already up with --host-net
# A private TMPDIR scopes virtualcard's per-port claim files (flock) to
# this pcscd, so they never collide with cards on the host's pcscd.
export TMPDIR=$(mktemp -d)
mkdir -p /run/pcscd
mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
conf=$(mktemp -d)
cat >"$conf/vpcd" <<'CONF'
FRIENDLYNAME "Yubico YubiKey Virtual"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
CONF

pcscd_pid= card_pid=
cleanup() {
	[[ -n $card_pid ]] && kill "$card_pid" 2>/dev/null && wait "$card_pid" 2>/dev/null
	[[ -n $pcscd_pid ]] && kill "$pcscd_pid" 2>/dev/null && wait "$pcscd_pid" 2>/dev/null
	rm -rf "$conf" "$TMPDIR"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

debug=()
[[ -n ${PCSCD_DEBUG:-} ]] && debug=(-d -a)
pcscd -f -c "$conf" "${debug[@]}" >"$PIV_STATE_DIR/pcscd.log" 2>&1 &
pcscd_pid=$!

# pcscd is ready when its socket exists and vpcd listens.
for _ in $(seq 100); do
	[[ -S /run/pcscd/pcscd.comm ]] && (exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null && break
	kill -0 "$pcscd_pid" 2>/dev/null || { cat "$PIV_STATE_DIR/pcscd.log" >&2; die "pcscd exited"; }
	sleep 0.1
done
[[ -S /run/pcscd/pcscd.comm ]] || die "pcscd did not come up (see $PIV_STATE_DIR/pcscd.log)"
# The probe connection above looked like a card to vpcd for a moment; give
# pcscd a poll to notice it left before a real card connects.
sleep 1

if [[ $card == 1 ]]; then
	"$VIRTUALCARD_BIN" --addr 127.0.0.1:35963 "${card_args[@]}" >"$PIV_STATE_DIR/card.log" 2>&1 &
	card_pid=$!
	export PIVTEST_VPCD_ADDR=127.0.0.1:35964
	present=0
	for _ in $(seq 100); do
		if command -v opensc-tool >/dev/null; then
			opensc-tool --list-readers 2>/dev/null | grep -q '^0 *Yes' && { present=1; break; }
		else
			sleep 2; present=1; break
		fi
		kill -0 "$card_pid" 2>/dev/null || { cat "$PIV_STATE_DIR/card.log" >&2; die "virtualcard exited"; }
		sleep 0.1
	done
	[[ $present == 1 ]] || die "pcscd never saw the virtual card (see $PIV_STATE_DIR/*.log)"
fi

set +e
"$@"
rc=$?
set -e
exit "$rc"
