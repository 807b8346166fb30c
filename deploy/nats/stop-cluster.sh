#!/bin/sh
# Stop the nodes start-cluster.sh started, by their PID files (never by process name): SIGTERM, then wait.
#   deploy/nats/stop-cluster.sh [RUN_DIR]
set -eu
run_dir=${1:-$PWD/nats-cluster}
for pid_file in "$run_dir"/n*.pid; do
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  if kill "$pid" 2>/dev/null; then
    tries=0
    while kill -0 "$pid" 2>/dev/null && [ $tries -lt 100 ]; do tries=$((tries + 1)); sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && echo "pid $pid ($pid_file) still runs after 10 s" >&2 && continue
  fi
  rm -f "$pid_file"
  echo "stopped $(basename "$pid_file" .pid) (pid $pid)"
done
