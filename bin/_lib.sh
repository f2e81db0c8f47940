# Shared by bin/run and bin/test (sourced, not run): the virtualenv and the embedded Redis.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
MIN_PYTHON="3.11"

say() { printf '%s\n' "$*" >&2; }
die() { say "$(basename "$0"): $*"; exit 1; }

python_ok() {  # python_ok EXECUTABLE: is it a Python >= MIN_PYTHON?
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

find_python() {
    # $PYTHON wins; else python3, else an explicitly versioned one (python3 may be an older
    # system Python next to an installed python3.11+).
    if [[ -n "${PYTHON:-}" ]]; then
        python_ok "$PYTHON" || die "PYTHON=$PYTHON is not a working Python $MIN_PYTHON+."
        echo "$PYTHON"; return
    fi
    local candidate
    for candidate in python3 python3.14 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
            command -v "$candidate"; return
        fi
    done
    local found="none"
    command -v python3 >/dev/null && found="$(python3 --version 2>&1)"
    die "Python $MIN_PYTHON or newer is needed (found: $found).
Install one (e.g. apt-get install python3.11 python3.11-venv, brew install python@3.12, or pyenv)
and run again, or point PYTHON at it: PYTHON=/path/to/python3.11 $0"
}

requirements_hash() {  # the file plus every file it pulls in with -r, hashed together
    "$VENV/bin/python" - "$1" <<'PY'
import hashlib, pathlib, sys

def lines(path, seen):
    if path in seen:
        return
    seen.add(path)
    for line in path.read_text().splitlines():
        yield line
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("-r", "--requirement"):
            yield from lines((path.parent / parts[1]).resolve(), seen)

print(hashlib.sha256("\n".join(lines(pathlib.Path(sys.argv[1]).resolve(), set())).encode()).hexdigest())
PY
}

ensure_venv() {  # ensure_venv REQUIREMENTS_FILE: .venv exists, REQUIREMENTS_FILE is installed, PATH uses it
    local requirements="$REPO_ROOT/$1"
    local stamp="$VENV/.installed-$(basename "$1").sha256"
    if [[ -e "$VENV" ]] && ! python_ok "$VENV/bin/python"; then
        say "The virtualenv in $VENV is broken or older than Python $MIN_PYTHON: recreating it."
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        local python
        python="$(find_python)"
        say "Creating the virtualenv $VENV with $python ($("$python" --version 2>&1))..."
        "$python" -m venv "$VENV" || die "could not create the virtualenv (on Debian/Ubuntu: apt-get install python3-venv, or python3.X-venv)."
    fi
    local wanted
    wanted="$(requirements_hash "$requirements")"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
        say "Installing $1 into .venv (quietly; the first time takes a minute)..."
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
            || die "pip install -r $1 failed (see above)."
        echo "$wanted" >"$stamp"
    fi
    export VIRTUAL_ENV="$VENV"
    export PATH="$VENV/bin:$PATH"
    unset PYTHONHOME
}

EMBEDDED_REDIS_PIDFILE=""

start_embedded_redis() {  # start_embedded_redis DATA_DIR: start it and export REDIS_URL
    local data_dir="$1"
    local url
    url="$("$VENV/bin/python" "$REPO_ROOT/bin/embedded_redis.py" start --dir "$data_dir")" || die "could not start the embedded Redis."
    EMBEDDED_REDIS_PIDFILE="$data_dir/redis.pid"
    export REDIS_URL="$url"
    say "Embedded Redis at $REDIS_URL (data in ${data_dir#"$REPO_ROOT"/})."
}

stop_embedded_redis() {  # safe to call more than once, and when none was started
    if [[ -n "$EMBEDDED_REDIS_PIDFILE" ]]; then
        "$VENV/bin/python" "$REPO_ROOT/bin/embedded_redis.py" stop --pidfile "$EMBEDDED_REDIS_PIDFILE" || true
        EMBEDDED_REDIS_PIDFILE=""
    fi
}

broker_configured() {  # does the environment already name a broker?
    [[ -n "${REDIS_URL:-}" || -n "${CELERY_BROKER_URL:-}" ]]
}
