"""Outgoing store credit webhooks: outbox rows in the change's transaction, signed
HTTP POSTs after commit by Celery, retries with backoff, a delivery log."""
