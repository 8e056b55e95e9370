#!/bin/sh
# The way ops started it on the old VM.
cd /opt/legacy
nohup java -Xmx512m -jar lib/legacy.jar --port=9300 > logs/out.log 2>&1 &
