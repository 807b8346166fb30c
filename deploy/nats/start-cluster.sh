#!/bin/sh
# Start wattcast's 3-node NATS cluster on this host (loopback), each node a nats-server with its PID file.
#   WATTCAST_NATS_AGENT_PASSWORD=... WATTCAST_NATS_METER_PASSWORD=... deploy/nats/start-cluster.sh [RUN_DIR]
# Options from the environment: WATTCAST_NATS_PARTITIONS (N, default 4), WATTCAST_NATS_HOST (127.0.0.1),
# WATTCAST_NATS_ACK_WAIT (30s), WATTCAST_NATS_CONSUMER_REPLICAS (3), WATTCAST_NATS_BASE_PORT (14000: node i gets
# client port base+i, MQTT base+10+i, routes base+20+i, HTTP monitoring base+30+i). Stop it with stop-cluster.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
run_dir=${1:-$PWD/nats-cluster}
: "${WATTCAST_NATS_AGENT_PASSWORD:?set the agents password}" "${WATTCAST_NATS_METER_PASSWORD:?set the meters password}"
partitions=${WATTCAST_NATS_PARTITIONS:-4}
base=${WATTCAST_NATS_BASE_PORT:-14000}
export WATTCAST_NATS_HOST=${WATTCAST_NATS_HOST:-127.0.0.1}
export WATTCAST_NATS_ACK_WAIT=${WATTCAST_NATS_ACK_WAIT:-30s}
export WATTCAST_NATS_CONSUMER_REPLICAS=${WATTCAST_NATS_CONSUMER_REPLICAS:-3}
export WATTCAST_NATS_AGENT_PASSWORD WATTCAST_NATS_METER_PASSWORD
for i in 1 2 3; do
  export WATTCAST_NATS_ROUTE_$i="nats-route://$WATTCAST_NATS_HOST:$((base + 20 + i))"
done

mkdir -p "$run_dir"
cp "$here/node.conf" "$run_dir/node.conf"
sed "s/@PARTITIONS@/$partitions/" "$here/accounts.conf.template" > "$run_dir/accounts.conf"
for i in 1 2 3; do
  pid_file="$run_dir/n$i.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "node n$i already runs (pid $(cat "$pid_file"))"; continue
  fi
  WATTCAST_NATS_NAME=n$i WATTCAST_NATS_CLIENT_PORT=$((base + i)) WATTCAST_NATS_MQTT_PORT=$((base + 10 + i)) \
  WATTCAST_NATS_ROUTE_PORT=$((base + 20 + i)) WATTCAST_NATS_HTTP_PORT=$((base + 30 + i)) \
  WATTCAST_NATS_STORE_DIR="$run_dir/n$i" \
    nats-server -c "$run_dir/node.conf" -P "$pid_file" -l "$run_dir/n$i.log" </dev/null >/dev/null 2>&1 &
  echo "node n$i: MQTT mqtt://$WATTCAST_NATS_HOST:$((base + 10 + i)), log $run_dir/n$i.log"
done
# Ready once every node reports JetStream healthy (a meta leader elected).
for i in 1 2 3; do
  tries=0
  until curl -fs "http://$WATTCAST_NATS_HOST:$((base + 30 + i))/healthz" >/dev/null 2>&1; do
    tries=$((tries + 1)); [ $tries -le 150 ] || { echo "node n$i not healthy after 30 s: see $run_dir/n$i.log" >&2; exit 1; }
    sleep 0.2
  done
done
echo "cluster ready: $partitions partitions; agents: --mqtt-version 3.1.1 --partition K/$partitions --broker" \
  "mqtt://$WATTCAST_NATS_HOST:$((base + 11)),mqtt://$WATTCAST_NATS_HOST:$((base + 12)),mqtt://$WATTCAST_NATS_HOST:$((base + 13))"
