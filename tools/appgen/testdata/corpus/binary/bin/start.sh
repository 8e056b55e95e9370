#!/bin/sh
# Starts the inventory server in the foreground (ops ran this from rc.local).
cd "$(dirname "$0")/.."
exec ./bin/invserver --port 8086 --log-dir logs
