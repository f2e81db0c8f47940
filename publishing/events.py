"""Events published by the publishing domain: its public contract. Consumers may import this module only."""

from __future__ import annotations
