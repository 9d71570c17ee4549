#!/bin/sh
# postrm of the vise and vise-agent packages: purge removes the service's
# data directory (a device's identity and queue, a server's database); the
# system user stays, as Debian policy asks, so files it owns elsewhere keep
# a name.
set -e
if [ "$1" = purge ]; then
	rm -rf "/var/lib/@USER@"
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
