"""Request body parsers that refuse hostile JSON before any view code sees it.

The body is already bounded: DRF reads it through ``HttpRequest.body``, so a body over
DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB) is refused by Django (``bad_request`` in project.api.errors).
What fits in that megabyte can still hurt:

- nesting: ``[[[[...]]]]`` a hundred thousand deep makes Python's json raise RecursionError, which
  would be a 500 (and a traceback in the logs) for one cheap request;
- sheer count: a hundred thousand list items or object members cost memory and CPU in every layer
  after the parser (validation, error documents that name each unknown field...).

``JSONParser`` measures both before decoding, on the raw bytes, at C speed (a regular expression
and ``bytes.translate``), and answers a 400 problem document (``malformed-request``) when the body
is deeper than API_JSON_MAX_DEPTH or holds more than API_JSON_MAX_ITEMS values. Serializers keep
their own, tighter caps (an order has at most 50 lines).
"""

from __future__ import annotations

import io
import re
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

DEFAULT_MAX_DEPTH = 20
DEFAULT_MAX_ITEMS = 10_000

# A JSON string literal: its brackets and commas are text, not structure. The two alternatives
# cannot both match one character, so the scan is linear (no catastrophic backtracking).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRUCTURE = b"[]{},"
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")


def json_shape(raw: bytes, *, max_depth: int) -> tuple[int, int]:
    """(depth, items) of a JSON document, depth counted only up to ``max_depth + 1``.

    ``items`` approximates the number of values in the document (commas + containers);
    ``depth`` is how many brackets nest. Both are measured on the structure alone: strings are
    removed first, then everything but brackets and commas. Malformed input gets some answer; the
    JSON decoder reports the actual syntax error afterwards.
    """
    skeleton = _STRING.sub(b'""', raw).translate(None, _NOT_STRUCTURE)
    brackets = skeleton.replace(b",", b"")
    items = len(skeleton) - len(brackets) + len(brackets) // 2
    depth = 0
    # Each pass removes the innermost level; stopping after max_depth + 1 passes keeps a hostile
    # body at a bounded number of C-level scans however deep it goes.
    while brackets and depth <= max_depth:
        shorter = _INNERMOST_PAIR.sub(b"", brackets)
        if len(shorter) == len(brackets):  # unbalanced: malformed, let the decoder say where
            break
        brackets = shorter
        depth += 1
    return depth, items


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper or holding more values than allowed."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        if stream is None:
            return super().parse(stream, media_type, parser_context)
        raw = stream.read()
        max_depth = getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)
        max_items = getattr(settings, "API_JSON_MAX_ITEMS", DEFAULT_MAX_ITEMS)
        depth, items = json_shape(raw, max_depth=max_depth)
        if depth > max_depth:
            raise ParseError(f"JSON parse error - nested deeper than {max_depth} levels.")
        if items > max_items:
            raise ParseError(f"JSON parse error - more than {max_items} values.")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:  # the pre-scan should make this unreachable
            raise ParseError("JSON parse error - nested too deeply.") from exc
