#!/usr/bin/env bash
# Stops the ejabberd that start.sh WORKDIR started. Usage: benches/peers/ejabberd/stop.sh WORKDIR
set -uo pipefail
work="$1"
ejabberdctl --config "$work/ejabberd.yml" --ctl-config "$work/ejabberdctl.cfg" \
  --spool "$work/spool" --logs "$work/logs" stop >/dev/null 2>&1
