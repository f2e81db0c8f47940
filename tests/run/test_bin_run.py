"""bin/run and bin/manage as a new user meets them: a fresh checkout, no configuration, `make run`,
the banner's curl example, a command from a second terminal, then Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.conftest import free_port, fresh_env, processes_in, stop_everything_started_in

START_BUDGET = 300.0  # seconds from `make run` to the banner on a loaded 2-core machine


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("busy", ["PORT", "FLOWER_PORT"])
def test_bin_run_names_a_busy_port_and_starts_nothing(checkout: Path, listening: int, busy: str) -> None:
    ports = {"PORT": str(free_port()), "FLOWER_PORT": str(free_port()), busy: str(listening)}
    done = subprocess.run(
        ["bin/run"], cwd=checkout, env=fresh_env(**ports), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{busy}={listening}: port {listening} on 127.0.0.1 is busy" in done.stderr
    suggested = re.search(rf"{busy}=(\d+)", done.stderr.split("choose other ports")[1])
    assert suggested and int(suggested[1]) != listening, done.stderr
    # Nothing was started: no broker, no process left behind.
    assert not (checkout / "var" / "redis" / "redis.pid").exists()
    assert not (checkout / "var" / "run.env").exists()
    assert processes_in(checkout) == []


def test_bin_manage_says_how_to_start_the_system_when_none_runs(checkout: Path) -> None:
    done = subprocess.run(
        ["bin/manage", "saga_status"], cwd=checkout, env=fresh_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "no running system found" in done.stderr and "make run" in done.stderr


def test_bin_manage_refuses_the_settings_of_a_bin_run_that_ended(checkout: Path) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    run_env = checkout / "var" / "run.env"
    run_env.parent.mkdir(exist_ok=True)
    run_env.write_text(f"BIN_RUN_PID={ended.pid}\nexport REDIS_URL=redis://127.0.0.1:1/0\n")
    try:
        done = subprocess.run(
            ["bin/manage", "saga_status"], cwd=checkout, env=fresh_env(), capture_output=True, text=True, timeout=60
        )
    finally:
        run_env.unlink()
    assert done.returncode == 1
    assert f"(pid {ended.pid}) is not running any more" in done.stderr


def request(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310 (http://127.0.0.1)
    req.add_header("Authorization", f"Token {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.run
@pytest.mark.timeout(600)
def test_make_run_serves_the_banner_example_at_once_commands_work_from_another_shell_and_ctrl_c_is_clean(
    checkout: Path,
) -> None:
    port, flower_port = free_port(), free_port()
    log_path = checkout.parent / "make-run.log"
    with log_path.open("w") as log:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=checkout,
            env=fresh_env(PORT=str(port), FLOWER_PORT=str(flower_port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            # and SIGINT at its default, as in a terminal (a background parent may have ignored it).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + START_BUDGET
        while "Ctrl-C stops every process" not in log_path.read_text():
            assert make.poll() is None, f"make run ended ({make.returncode}):\n{log_path.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"no banner after {START_BUDGET}s:\n{log_path.read_text()[-4000:]}"
            time.sleep(0.5)
        banner = log_path.read_text().split("Place an order as alice")[1]
        alice_token = re.search(r'Authorization: Token ([0-9a-f]{40})"', banner)[1]

        # The banner's example, the moment the banner is there: no connection refused, no "Unknown sku".
        status, order = request(
            f"http://127.0.0.1:{port}/api/orders/",
            alice_token,
            {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 2, "unit_price": "10.00"}]},
        )
        assert status == 201, order
        deadline = time.monotonic() + 60
        while (order := request(f"http://127.0.0.1:{port}/api/orders/{order['id']}/", alice_token)[1])[
            "status"
        ] == "reserving":
            assert time.monotonic() < deadline, order
            time.sleep(0.5)
        assert order["status"] == "confirmed", order

        # A second terminal: nothing exported, the command the banner prints.
        second = subprocess.run(
            ["bin/manage", "place_demo_orders", "3", "--wait", "90"],
            cwd=checkout,
            env=fresh_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert second.returncode == 0, second.stdout + second.stderr
        # Every saga ended (confirmed, or failed where a shelf ran out): its workers are this system's.
        assert "placed 3 orders" in second.stdout and "reserving" not in second.stdout, second.stdout

        # Ctrl-C: the terminal sends SIGINT to its foreground process group (make and bin/run).
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=90)
        output = log_path.read_text()
        assert "stopped (Ctrl-C)" in output, output[-3000:]
        assert "make: ***" not in output, output[-3000:]  # was "make: *** [Makefile:13: run] Error 130"
        assert not (checkout / "var" / "run.env").exists()
        deadline = time.monotonic() + 15
        while processes_in(checkout) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_in(checkout) == [], "processes left running after Ctrl-C"
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=60)
        stop_everything_started_in(checkout)
