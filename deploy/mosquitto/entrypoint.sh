#!/bin/sh
# Builds Mosquitto's password file at container start from the environment, so no secret
# is committed or baked into an image, then runs the image's own entrypoint. A restart
# with new values replaces the passwords. MQTT_*_PASSWORD come from docker-compose.yml
# (required there); the health check's password is random and never leaves the container.
set -eu
: "${MQTT_CHIRPSTACK_PASSWORD:?set MQTT_CHIRPSTACK_PASSWORD}"
: "${MQTT_BAYGATE_PASSWORD:?set MQTT_BAYGATE_PASSWORD}"
: "${MQTT_GATEWAY_BRIDGE_PASSWORD:?set MQTT_GATEWAY_BRIDGE_PASSWORD}"
dir=/mosquitto/auth
mkdir -p "$dir"
umask 077
rm -f "$dir/passwd"
touch "$dir/passwd"
# -b takes the password on the command line: acceptable inside this short-lived shell, the
# only process in a fresh container; the values never reach the log.
mosquitto_passwd -b "$dir/passwd" chirpstack "$MQTT_CHIRPSTACK_PASSWORD"
mosquitto_passwd -b "$dir/passwd" baygate "$MQTT_BAYGATE_PASSWORD"
mosquitto_passwd -b "$dir/passwd" gateway-bridge "$MQTT_GATEWAY_BRIDGE_PASSWORD"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/healthcheck"
mosquitto_passwd -b "$dir/passwd" healthcheck "$(cat "$dir/healthcheck")"
cp /mosquitto/config/acl "$dir/acl"
chown -R mosquitto:mosquitto "$dir"
exec /docker-entrypoint.sh "$@"
