#!/bin/sh
# prerm of the vise and vise-agent packages: a removal stops and disables the
# service (an upgrade keeps it running until postinst restarts it).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl disable --now "@UNIT@" >/dev/null || true
fi
exit 0
