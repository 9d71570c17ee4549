#!/bin/sh
# postinst of the vise and vise-agent packages: the service's own system user,
# its settings file readable by it alone (it holds an enrollment token or a
# database password), and systemd told about the unit. The service is not
# started here: it needs its settings first (see the README).
set -e
user=@USER@
env=/etc/vise/@ENV@
if [ "$1" = configure ]; then
	if ! getent passwd "$user" >/dev/null; then
		adduser --system --group --home "/var/lib/$user" --no-create-home --quiet "$user"
	fi
	chown "root:$user" "$env"
	chmod 0640 "$env"
fi
# The agent may have replaced itself through Vise (a vise.agent deployment,
# see the README): the binary it runs is named by agent/current in its data
# directory. Installing the package makes the packaged binary the agent again.
if [ "$user" = vise-agent ]; then
	rm -f /var/lib/vise-agent/agent/current
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	# An upgrade restarts a running service on the new binary.
	if [ -n "$2" ]; then
		systemctl try-restart "@UNIT@" >/dev/null || true
	fi
fi
exit 0
