#!/bin/sh
# Container entry point: `fhirplugin serve` on 0.0.0.0 and $FHIRPLUGIN_PORT (8080), with any
# arguments passed on. A --port given as an argument wins; it is written to /tmp/fhirplugin.port so
# that the HEALTHCHECK asks the port the service really listens on.
set -eu
port="${FHIRPLUGIN_PORT:-8080}"
host="0.0.0.0"
prev=""
for arg in "$@"; do
    case "$prev" in
        --port) port="$arg" ;;
        --host) host="$arg" ;;
    esac
    case "$arg" in
        --port=*) port="${arg#--port=}" ;;
        --host=*) host="${arg#--host=}" ;;
    esac
    prev="$arg"
done
echo "$port" > /tmp/fhirplugin.port
exec fhirplugin serve --host "$host" --port "$port" "$@"
