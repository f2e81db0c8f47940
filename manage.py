#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    from project.observability.tracing import setup_tracing

    # Tracing, if OTEL_TRACES_EXPORTER asks for it: the relay's sends, a command's publishes.
    command = sys.argv[1] if len(sys.argv) > 1 else "manage"
    setup_tracing("web" if command == "runserver" else "relay" if command == "relay_outbox" else f"manage-{command}")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
