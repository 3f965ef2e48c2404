#!/bin/sh
# The house's MQTT broker (docker compose's `mqtt` profile): a password file made from
# MQTT_USERNAME and MQTT_PASSWORD of .env, a configuration beside it, then mosquitto. The
# collector and every other client (Home Assistant, evcc, ...) log in with that user.
#   MOSQUITTO_DIR (default /mosquitto/data), MQTT_PORT (1883) and MOSQUITTO_USER (mosquitto)
#   are for running it outside the image (the test suite does, with Debian's mosquitto).
set -eu
dir="${MOSQUITTO_DIR:-/mosquitto/data}"
port="${MQTT_PORT:-1883}"
user="${MOSQUITTO_USER:-mosquitto}"
if [ -z "${MQTT_USERNAME:-}" ] || [ -z "${MQTT_PASSWORD:-}" ]; then
  echo "mosquitto: set MQTT_USERNAME and MQTT_PASSWORD in .env: the broker's user, for the" \
    "collector and for Home Assistant" >&2
  exit 2
fi
umask 077
mkdir -p "$dir"
rm -f "$dir/passwords"
mosquitto_passwd -c -b "$dir/passwords" "$MQTT_USERNAME" "$MQTT_PASSWORD"
cat > "$dir/mosquitto.conf" <<CONF
listener $port
allow_anonymous false
password_file $dir/passwords
persistence true
persistence_location $dir/
log_dest stdout
user $user
CONF
chown -R "$user" "$dir"
exec mosquitto -c "$dir/mosquitto.conf"
