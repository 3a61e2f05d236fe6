#!/usr/bin/env bash
# Runs the broker command given as arguments and ties its life to flowwatch's:
#  - TERM, INT or HUP stop it gracefully (and kill it if it hangs for 20 s);
#  - when our standard input closes, because the flowwatch process that started us went away
#    (even by SIGKILL), it is stopped the same way. No orphan broker is left behind.
set -u
exec 3<&0
"$@" </dev/null &
broker=$!
killer=
stop() {
  kill -TERM "$broker" 2>/dev/null
  if [ -z "$killer" ]; then
    ( trap 'kill "$nap" 2>/dev/null; exit 0' TERM; sleep 20 & nap=$!; wait "$nap"; kill -KILL "$broker" 2>/dev/null ) &
    killer=$!
  fi
}
trap stop TERM INT HUP
{ cat <&3 >/dev/null; kill -TERM $$ 2>/dev/null; } &
status=0
while kill -0 "$broker" 2>/dev/null; do
  wait "$broker"
  status=$?
done
[ -n "$killer" ] && kill "$killer" 2>/dev/null
exit "$status"
