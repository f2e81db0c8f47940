"""The pipeline benchmark: the product (outbox, inbox, saga, retries) against raw Celery.

Run it with ``python -m bench.run`` (see docs/performance.md). Nothing here is imported by the
project or its tests; it needs the extra packages of requirements-bench.txt.
"""
