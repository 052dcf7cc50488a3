# Shared by scripts/*: a project virtualenv that installs itself from nothing
# but Python, and the local backing services the tests talk to.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ensure_venv [EXTRAS]: create .venv and (re)install the project (with
# EXTRAS, e.g. "test") when its dependency declarations changed since.
# pip's own output (setuptools' BuildBackendWarning blocks on editable
# installs, notes about the machine's pip configuration) goes to
# $VENV/pip-install.log, shown only when an install fails.
ensure_venv() {
    local extras="${1:-}" stamp want target="$ROOT"
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    [ -n "$extras" ] && target="$ROOT[$extras]"
    stamp="$VENV/.installed-${extras:-base}"
    want="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/client/pyproject.toml" 2>/dev/null | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing dependencies into $VENV (a minute on a fresh clone)"
        : > "$VENV/pip-install.log"
        pip_quietly --upgrade pip
        pip_quietly -e "$target"
        if [ -f "$ROOT/client/pyproject.toml" ]; then
            pip_quietly -e "$ROOT/client[flask]"
        fi
        echo "$want" > "$stamp"
    fi
}

pip_quietly() {  # pip_quietly PIP_INSTALL_ARGS...: pip install, its output in the log unless it fails
    if ! "$PY" -m pip install --disable-pip-version-check --no-input "$@" \
            >> "$VENV/pip-install.log" 2>&1; then
        tail -n 40 "$VENV/pip-install.log" >&2
        die "pip install $* failed (whole log: $VENV/pip-install.log)"
    fi
}

port_open() {  # port_open HOST PORT
    "$PY" - "$1" "$2" <<'PYEOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PYEOF
}

wait_port() {  # wait_port HOST PORT SECONDS
    local i
    for i in $(seq 1 $(( $3 * 4 ))); do port_open "$1" "$2" && return 0; sleep 0.25; done
    return 1
}

# ensure_service NAME PORT START_COMMAND...: start NAME if it is installed but down.
ensure_service() {
    local name="$1" port="$2"; shift 2
    port_open 127.0.0.1 "$port" && return 0
    if command -v "$1" >/dev/null 2>&1; then
        log "$name is down on 127.0.0.1:$port; starting it"
        "$@" >/dev/null 2>&1 || log "starting $name returned an error"
        wait_port 127.0.0.1 "$port" 60 && return 0
    fi
    if [ "${CI:-}" = "true" ]; then
        die "$name is not reachable on 127.0.0.1:$port and could not be started (CI=true: not skipping)"
    fi
    log "warning: $name unreachable on 127.0.0.1:$port; tests that need it will fail"
}

ensure_test_services() {
    ensure_service PostgreSQL 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -1)" main start
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    ensure_service Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    ensure_service RabbitMQ 5672 rabbitmq-server -detached
}

# ensure_system_tools COMMAND=PACKAGE...: install Debian packages whose command is missing
# (chromium for the API docs test, promtool from prometheus for the alert rules).
ensure_system_tools() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    if command -v apt-get >/dev/null 2>&1 && apt-get update -qq >&2 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2; then
        return 0
    fi
    [ "${CI:-}" = "true" ] && die "could not install ${missing[*]} (CI=true: not skipping)"
    log "warning: could not install ${missing[*]}; the tests that need them will fail"
}

# ensure_port_free HOST PORT: fail in one line, naming a free port to use instead, when
# HOST:PORT cannot be listened on or something already answers there (plain python3: this runs
# before the virtualenv exists).
ensure_port_free() {
    local verdict
    verdict="$(python3 - "$1" "$2" <<'PYEOF'
import socket, sys

def taken(host, port):
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            s.bind((host, port))
    except OSError:
        return True
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True  # someone answers on loopback (a wildcard bind may still succeed beside it)
    except OSError:
        return False

host, port = sys.argv[1], int(sys.argv[2])
if not taken(host, port):
    print("free")
else:
    print(next((p for p in range(port + 1, min(port + 200, 65536)) if not taken(host, p)), "<another port>"))
PYEOF
)" || die "could not check port $2"
    [ "$verdict" = free ] && return 0
    die "port $2 is already in use (another scripts/run, or another program); use a free one: PORT=$verdict $0"
}
