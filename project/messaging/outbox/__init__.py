"""The producing side: publish into the transactional outbox, and the relay and sweep that send it."""
