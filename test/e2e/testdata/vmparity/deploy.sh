#!/bin/bash
# deploy.sh -- ship a release of orders to an app server.
#
#   ./deploy.sh HOST deploy orders-vN.tar.gz   copy the release over, switch "current", (re)start
#   ./deploy.sh HOST start|stop|restart|status
#
# Needs root ssh to HOST. SSH_OPTS goes to ssh and scp (say -i ~/.ssh/deploy_key).
# Written for the app servers of 2012: SysV init scripts, service(8), and systemctl
# where the box has it. (Kept as it was: the fatbox e2e tests run it unchanged.)

set -e

HOST=$1
ACTION=$2
TARBALL=$3
APP=/opt/orders

usage() {
	echo "usage: $0 HOST deploy orders-vN.tar.gz | $0 HOST start|stop|restart|status" >&2
	exit 2
}

[ -n "$HOST" ] || usage
SSH="ssh $SSH_OPTS root@$HOST"

case "$ACTION" in
deploy)
	[ -f "$TARBALL" ] || usage
	REL=$(basename "$TARBALL" .tar.gz)
	VER=${REL#orders-}
	echo "==> copying $REL to $HOST"
	scp -q $SSH_OPTS "$TARBALL" root@$HOST:/tmp/$REL.tar.gz
	echo "==> unpacking into $APP/releases/$VER"
	$SSH "mkdir -p $APP/releases/$VER && tar -xzf /tmp/$REL.tar.gz -C $APP/releases/$VER && rm -f /tmp/$REL.tar.gz"
	$SSH "ln -sfn $APP/releases/$VER $APP/current.new && mv -T $APP/current.new $APP/current"
	echo "==> installing the init script"
	$SSH "install -m 0755 $APP/current/init.d/orders /etc/init.d/orders"
	$SSH "if command -v update-rc.d >/dev/null 2>&1; then update-rc.d orders defaults; else chkconfig --add orders; fi"
	if $SSH "/etc/init.d/orders status" >/dev/null 2>&1; then
		echo "==> restarting orders"
		$SSH "systemctl restart orders"
	else
		echo "==> starting orders"
		$SSH "service orders start"
	fi
	echo "==> smoke test"
	$SSH 'for i in 1 2 3 4 5 6 7 8 9 10; do curl -fsS http://localhost:8080/ && exit 0; sleep 1; done; echo "orders does not answer on :8080" >&2; exit 1'
	echo "==> $REL is live on $HOST"
	;;
start)
	$SSH "service orders start"
	;;
stop)
	$SSH "service orders stop"
	;;
restart)
	$SSH "systemctl restart orders"
	;;
status)
	$SSH "/etc/init.d/orders status"
	;;
*)
	usage
	;;
esac
