#!/usr/bin/env bash
# LocalStack without Docker ("host mode"), in its own virtual environment.
#
#   infra/localstack/host.sh install        create .localstack/venv and install LocalStack
#   infra/localstack/host.sh up             run it in the foreground until Ctrl-C
#   infra/localstack/host.sh run CMD...     start it, run CMD with AWS_ENDPOINT_URL pointing
#                                           at it, stop it; exit with CMD's status
#
# Why these settings: LocalStack believes it is in its own container whenever /.dockerenv
# exists (CI images, dev containers) and would then use - and wipe - fixed system folders.
# OVERRIDE_IN_DOCKER=0 plus a private FILESYSTEM_ROOT/TMPDIR keep it inside .localstack/.
# It prints "Ready." even when its port is taken, so we pick a free port and check health.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${LOCALSTACK_STATE_DIR:-$ROOT/.localstack}"
VENV="$STATE/venv"
PYTHON="${LOCALSTACK_PYTHON:-python3.11}"
REQUIREMENTS="$ROOT/infra/localstack/requirements-host.txt"

install() {
  if [[ -f "$VENV/.installed" && "$VENV/.installed" -nt "$REQUIREMENTS" ]]; then return; fi
  echo "localstack: installing into $VENV (own venv, $("$PYTHON" --version))" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$VENV/.installed"
}

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local port="$1"
  mkdir -p "$STATE/root" "$STATE/tmp"
  OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$STATE/root" TMPDIR="$STATE/tmp" \
    GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" DNS_ADDRESS=0 \
    SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY=0 \
    "$VENV/bin/python" -m localstack.runtime.main >"$STATE/localstack.log" 2>&1 &
  echo $!
}

wait_healthy() {
  local port="$1" pid="$2"
  for _ in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$STATE/localstack.log" >&2; return 1; }
    if curl -fsS "http://127.0.0.1:$port/_localstack/health" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "localstack: not healthy after 120 s; log: $STATE/localstack.log" >&2
  return 1
}

versions() {
  "$VENV/bin/python" -c 'import importlib.metadata as m, sys; print("localstack-core", m.version("localstack-core"), "on Python", sys.version.split()[0])'
}

command="${1:-}"
shift || true
case "$command" in
  install) install ;;
  up|run)
    install
    port="${LOCALSTACK_PORT:-$(free_port)}"
    pid="$(start "$port")"
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT INT TERM
    wait_healthy "$port" "$pid"
    echo "localstack: $(versions), http://127.0.0.1:$port (log: $STATE/localstack.log)" >&2
    if [[ "$command" == up ]]; then
      while kill -0 "$pid" 2>/dev/null; do sleep 1; done  # started in a subshell: not waitable
    else
      AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_DEFAULT_REGION=us-east-1 "$@"
    fi
    ;;
  *) sed -n 2,9p "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
