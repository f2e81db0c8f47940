"""Recompute the stored dead letters' fingerprints: by handler, message type and cause.

Before, a fingerprint was the error type and the innermost project frame, so every payload that
failed validation (in any handler, of any message type) shared one group, and replaying that
group replayed them all. The new fingerprint (project.messaging.inbox.consumer.fingerprint) is
computed here from what each row kept (handler, event type, error type, traceback text), with a
copy of its rules as they are at this migration (a migration must not change with later code):
the fields at fault and their error kinds for a payload that failed validation (read from
pydantic's message in the traceback), otherwise the innermost frame of project code outside the
messaging layer. Reversing keeps the new fingerprints (the old grouping was the defect).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import migrations

# pydantic's ValidationError text: a line per field at fault ("lines.0.quantity"), then its
# message indented by two spaces, ending in "[type=<kind>, ...]".
_PYDANTIC_ERROR = re.compile(r"^(?P<loc>\S[^\n]*)\n  [^\n]*\[type=(?P<type>\w+)", re.MULTILINE)
_PYDANTIC_HEADER = re.compile(r"^pydantic_core\._pydantic_core\.ValidationError: \d+ validation errors? for .*$", re.M)
_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)$', re.MULTILINE)


def cause_from_traceback(text: str) -> str:
    header = _PYDANTIC_HEADER.search(text)
    if header is not None:
        block = text[header.end() + 1 :].split("\n\nThe above exception", 1)[0]
        problems = sorted({f"{m['loc']}:{m['type']}" for m in _PYDANTIC_ERROR.finditer(block)})
        return "payload:" + ",".join(problems)
    # The last "Traceback" block is the dead-lettered exception's own (chained causes come first).
    last = text.rsplit("Traceback (most recent call last):", 1)[-1]
    root = Path(settings.BASE_DIR).resolve()
    found = ""
    for match in _FRAME.finditer(last):
        path = Path(match["path"])
        if not path.is_relative_to(root) or ".venv" in path.parts or "site-packages" in path.parts:
            continue
        if path.is_relative_to(root / "project" / "messaging"):
            continue
        found = f"{path.relative_to(root)}:{match['func']}:{match['line']}"
    return found


def fingerprint_of(letter: Any) -> str:
    cause = cause_from_traceback(letter.traceback)
    key = "|".join((letter.handler, letter.event_type, letter.error_type, cause))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def recompute(apps: Any, schema_editor: Any) -> None:
    dead_letter = apps.get_model("messaging", "DeadLetter")
    rows = dead_letter.objects.using(schema_editor.connection.alias).only(
        "id", "handler", "event_type", "error_type", "traceback", "fingerprint"
    )
    changed = []
    for letter in rows.iterator(chunk_size=500):
        new = fingerprint_of(letter)
        if new != letter.fingerprint:
            letter.fingerprint = new
            changed.append(letter)
    dead_letter.objects.using(schema_editor.connection.alias).bulk_update(changed, ["fingerprint"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0002_projection_rebuild_checkpoint")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop, elidable=True)]
