"""Celery tasks (autodiscovered by Saleor's worker). Thin: they call services."""

import logging

from saleor.celeryconf import app
from saleor.core.db.connection import allow_writer

logger = logging.getLogger(__name__)


@app.task
def release_abandoned_store_credit_holds_task(batch_size: int = 500) -> int:
    """Release checkout reservations that expired or whose checkout was deleted."""
    from .payments import release_abandoned_holds

    # Saleor refuses writer-DB access in tasks unless asked for explicitly.
    with allow_writer():
        released = release_abandoned_holds(batch_size=batch_size)
    if released:
        logger.info("Released %s abandoned store credit hold(s).", released)
    return released
