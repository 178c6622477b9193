#!/usr/bin/env bash
# piv-up.sh: start pcscd (unless one runs) and the virtual YubiKey in the
# background, for manual use: yubico-piv-tool, ykcs11, trust-agent itself.
#
#   piv/scripts/piv-up.sh [--state FILE] [--serial N] [--version X.Y.Z]
#   piv/scripts/piv-down.sh
#
# PIDs, logs and the reader config live in $PIV_STATE_DIR/up (default
# .tmp/piv/up). The card keeps its keys in --state (default
# $PIV_STATE_DIR/up/card.json), so piv-down then piv-up gives back the
# same card.
#
# Without a system pcscd this starts a plain one (root: pcscd 1.9.9 uses
# /run/pcscd) with the reader "Yubico YubiKey Virtual 00 00" on vpcd port
# 35963. If a system pcscd runs, it is used as it is and must already
# have vpcd's reader (the vsmartcard-vpcd package installs
# /etc/reader.conf.d/vpcd, "Virtual PCD 00 00"); for a private pcscd
# beside a system one, use with-pcscd.sh instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${PIV_STATE_DIR:-$root/.tmp/piv}/up
die() { echo "piv-up: $*" >&2; exit 2; }

state=$dir/card.json card_args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--state) state=$2; shift 2 ;;
	--serial|--version) card_args+=("$1" "$2"); shift 2 ;;
	*) die "usage: piv-up.sh [--state FILE] [--serial N] [--version X.Y.Z]" ;;
	esac
done

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

mkdir -p "$dir"
if alive "$dir/card.pid"; then
	echo "piv-up: already up (card pid $(cat "$dir/card.pid")); piv-down.sh stops it"
	exit 0
fi

(cd "$root" && go build -o "$dir/virtualcard" ./piv/virtualcard/cmd/virtualcard) || die "building virtualcard failed"

if alive "$dir/pcscd.pid"; then
	: # ours, from an earlier piv-up whose card died
elif [[ -S /run/pcscd/pcscd.comm ]] && pgrep -x pcscd >/dev/null; then
	echo "piv-up: using the running system pcscd"
	(exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null ||
		die "the system pcscd has no vpcd reader on 35963 (install vsmartcard-vpcd and restart it, or use with-pcscd.sh)"
else
	[[ $(id -u) == 0 ]] || die "starting pcscd needs root (it uses /run/pcscd)"
	mkdir -p "$dir/reader.conf.d"
	cat >"$dir/reader.conf.d/vpcd" <<'CONF'
FRIENDLYNAME "Yubico YubiKey Virtual"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
CONF
	setsid pcscd -f -c "$dir/reader.conf.d" >"$dir/pcscd.log" 2>&1 </dev/null &
	echo $! >"$dir/pcscd.pid"
	for _ in $(seq 100); do
		[[ -S /run/pcscd/pcscd.comm ]] && (exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null && break
		alive "$dir/pcscd.pid" || die "pcscd exited (see $dir/pcscd.log)"
		sleep 0.1
	done
	sleep 1 # let pcscd see the probe connection above go away
fi

setsid "$dir/virtualcard" --addr 127.0.0.1:35963 --state "$state" "${card_args[@]}" \
	>"$dir/card.log" 2>&1 </dev/null &
echo $! >"$dir/card.pid"

for _ in $(seq 50); do
	if command -v opensc-tool >/dev/null && opensc-tool --list-readers 2>/dev/null | grep -q '^0 *Yes'; then
		break
	fi
	alive "$dir/card.pid" || die "virtualcard exited (see $dir/card.log)"
	sleep 0.1
done
echo "piv-up: $(head -1 "$dir/card.log" | sed 's/^virtualcard: //'); state $state"
echo "piv-up: try: yubico-piv-tool -a status   (stop with piv/scripts/piv-down.sh)"
