"""tests/db/test_domain_roles.py needs PostgreSQL with domains on databases of their own (CI's
split step): elsewhere it is not collected (nothing there to prove)."""

from __future__ import annotations

from tests.db.roles import uses_domain_roles

collect_ignore = [] if uses_domain_roles() else ["test_domain_roles.py"]
