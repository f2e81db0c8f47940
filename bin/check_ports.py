#!/usr/bin/env python3
"""Are the ports bin/run needs free on 127.0.0.1? Say which is not and which to choose instead.

    python bin/check_ports.py PORT=8000 FLOWER_PORT=5555

Exit 0 when every port is free, 1 otherwise, with a message on stderr naming the busy ports and a
command line with ports that are free now. Stdlib only.
"""

from __future__ import annotations

import socket
import sys

HOST = "127.0.0.1"


def free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers bind: a port left in TIME_WAIT by an earlier run is free for them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def problems_and_choice(wanted: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    problems: list[str] = []
    ports: dict[str, int] = {}
    for name, value in wanted.items():
        if not value.isdigit() or not 0 < int(value) < 65536:
            problems.append(f"{name}={value} is not a port number.")
        elif int(value) in ports.values():
            problems.append(f"{name}={value} is the port of another process too.")
        else:
            ports[name] = int(value)
    taken = [name for name, port in ports.items() if not free(port)]
    problems += [f"{name}={ports[name]}: port {ports[name]} on {HOST} is busy (another bin/run?)." for name in taken]
    choice = dict(wanted)
    used = set(ports.values())
    for name in [*taken, *(name for name in wanted if name not in ports)]:
        candidate = ports.get(name, int(wanted[name]) if wanted[name].isdigit() else 8000) + 1
        while candidate in used or not free(candidate):
            candidate += 1
        used.add(candidate)
        choice[name] = str(candidate)
    return problems, choice


def main(argv: list[str]) -> int:
    wanted = dict(arg.split("=", 1) for arg in argv)
    problems, choice = problems_and_choice(wanted)
    if not problems:
        return 0
    print("bin/run: " + "\n".join(problems), file=sys.stderr)
    command = " ".join(f"{name}={value}" for name, value in choice.items())
    print(f"Stop what holds it, or choose other ports (free right now): {command} make run", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
