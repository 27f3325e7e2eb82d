#!/bin/bash
# Runs once, when the postgres container initialises an empty data directory
# (docker-entrypoint-initdb.d): gives ChirpStack its own role and database beside
# baygate's. pg_trgm is the extension ChirpStack v4's migrations expect
# (chirpstack-docker configuration/postgresql/initdb).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v chirpstack_password="$CHIRPSTACK_POSTGRES_PASSWORD" <<-'EOSQL'
	CREATE ROLE chirpstack LOGIN PASSWORD :'chirpstack_password';
	CREATE DATABASE chirpstack OWNER chirpstack;
	\connect chirpstack
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
	CREATE EXTENSION IF NOT EXISTS hstore;
EOSQL
