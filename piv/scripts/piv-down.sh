#!/usr/bin/env bash
# piv-down.sh: stop what piv-up.sh started (the card, and pcscd if piv-up
# started it). The card's state file stays, so piv-up brings the same card
# back.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${PIV_STATE_DIR:-$root/.tmp/piv}/up

stop() { # stop NAME: TERM the recorded pid, wait up to 5 s, then KILL
	local pidfile=$dir/$1.pid pid
	[[ -f $pidfile ]] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		echo "piv-down: stopped $1 ($pid)"
	fi
	rm -f "$pidfile"
}
stop card
stop pcscd
