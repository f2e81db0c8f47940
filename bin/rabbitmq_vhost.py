"""A RabbitMQ virtual host of one test run's own, so that runs never share queues (bin/test).

    python bin/rabbitmq_vhost.py create amqp://guest:guest@127.0.0.1:5672/   -> prints the URL of a new vhost
    python bin/rabbitmq_vhost.py delete amqp://guest:guest@127.0.0.1:5672/test-1a2b3c

A vhost is created and deleted with ``rabbitmqctl`` (on the broker's machine, usually as root),
the only interface every RabbitMQ has (the management API is a plugin that may be off). The
URL's user is given every permission on the new vhost.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
from urllib.parse import quote, unquote, urlsplit, urlunsplit


def rabbitmqctl(*args: str) -> None:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        sys.exit("rabbitmq_vhost: rabbitmqctl is not on PATH (it creates the test run's vhost).")
    done = subprocess.run([executable, *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 (rabbitmqctl, our arguments)
    if done.returncode != 0:
        sys.exit(f"rabbitmq_vhost: rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")


def vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "/"


def create(url: str) -> str:
    parts = urlsplit(url)
    base = vhost_of(url).strip("/") or "test"
    vhost = f"{base}-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, unquote(parts.username or "guest"), ".*", ".*", ".*")
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def delete(url: str) -> None:
    vhost = vhost_of(url)
    if vhost == "/":
        sys.exit("rabbitmq_vhost: refusing to delete the default vhost /.")
    rabbitmqctl("delete_vhost", vhost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["create", "delete"])
    parser.add_argument("url")
    args = parser.parse_args()
    if args.action == "create":
        print(create(args.url))
    else:
        delete(args.url)


if __name__ == "__main__":
    main()
