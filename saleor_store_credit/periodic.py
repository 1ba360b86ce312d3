"""Periodic tasks, scheduled without editing Saleor's settings, under either beat setup.

- Celery's default scheduler (`celery worker -B`, as in Saleor's docker-compose; or
  `celery beat` without `--scheduler`) reads `CELERY_BEAT_SCHEDULE`: the plugin adds
  its entries to that dict when Django starts (`install_beat_schedule`, called from
  the app's `ready`), next to Saleor's own.
- Saleor's `saleor.schedulers.schedulers.DatabaseScheduler` reads `CustomPeriodicTask`
  rows. `migrate` creates the plugin's rows, and on start that scheduler copies
  `CELERY_BEAT_SCHEDULE` into rows by name (django-celery-beat `update_from_dict`,
  Saleor's `CustomModelEntry.from_entry`): the same names, so the same rows, so each
  task is scheduled once. As for Saleor's own entries, the interval comes from the
  schedule each time beat starts; a row staff disabled stays disabled.

`STORE_CREDIT_PERIODIC_EVERY_SECONDS` (environment) runs every task every N seconds
instead: for development and for the tests that run real beat processes.
"""

import os
from datetime import timedelta

PERIODIC_TASKS = [
    # (row name, task path, every N minutes)
    (
        "saleor_store_credit.release_abandoned_holds",
        "saleor_store_credit.tasks.release_abandoned_store_credit_holds_task",
        5,
    ),
    (
        "saleor_store_credit.resume_reimbursement_runs",
        "saleor_store_credit.tasks.resume_reimbursement_runs_task",
        5,
    ),
    (
        "saleor_store_credit.expire_credit",
        "saleor_store_credit.tasks.expire_credit_task",
        60,
    ),
    (
        "saleor_store_credit.notify_expiring_credit",
        "saleor_store_credit.tasks.notify_expiring_credit_task",
        24 * 60,
    ),
    (
        "saleor_store_credit.reconcile_ledger",
        "saleor_store_credit.tasks.reconcile_ledger_task",
        24 * 60,
    ),
    (
        "saleor_store_credit.evaluate_held_orders",
        "saleor_store_credit.tasks.evaluate_held_orders_task",
        15,
    ),
    (
        "saleor_store_credit.end_temporary_limits",
        "saleor_store_credit.tasks.end_temporary_limits_task",
        60,
    ),
    (
        "saleor_store_credit.payment_terms_due_dates",
        "saleor_store_credit.tasks.payment_terms_due_dates_task",
        60,
    ),
    (
        "saleor_store_credit.expire_on_account_authorizations",
        "saleor_store_credit.tasks.expire_on_account_authorizations_task",
        5,
    ),
    (
        "saleor_store_credit.deliver_due_webhooks",
        "saleor_store_credit.tasks.deliver_due_webhooks_task",
        1,
    ),
    (
        "saleor_store_credit.resend_stuck_emails",
        "saleor_store_credit.tasks.resend_stuck_emails_task",
        5,
    ),
    (
        "saleor_store_credit.update_risk_scores",
        "saleor_store_credit.tasks.update_risk_scores_task",
        24 * 60,
    ),
    (
        "saleor_store_credit.apply_forced_credit_holds",
        "saleor_store_credit.tasks.apply_forced_credit_holds_task",
        60,
    ),
]


def register_periodic_tasks(**_kwargs) -> list[str]:
    from django.apps import apps

    if not apps.is_installed("saleor.schedulers"):
        return []
    from django_celery_beat.models import IntervalSchedule

    from saleor.schedulers.models import CustomPeriodicTask

    created = []
    for name, task, minutes in PERIODIC_TASKS:
        if CustomPeriodicTask.objects.filter(name=name).exists():
            continue
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=minutes, period=IntervalSchedule.MINUTES
        )
        CustomPeriodicTask.objects.create(name=name, task=task, interval=interval)
        created.append(name)
    return created


def beat_schedule() -> dict:
    """The plugin's Celery beat entries, named as its `CustomPeriodicTask` rows."""
    every = os.environ.get("STORE_CREDIT_PERIODIC_EVERY_SECONDS", "").strip()
    return {
        name: {
            "task": task,
            "schedule": timedelta(seconds=int(every)) if every.isdigit() and int(every)
            else timedelta(minutes=minutes),
        }
        for name, task, minutes in PERIODIC_TASKS
    }


def install_beat_schedule() -> list[str]:
    """Add the plugin's entries to Saleor's `CELERY_BEAT_SCHEDULE` (in place: Celery's
    `app.conf.beat_schedule` is that same dict). An entry of the same name already
    there (a merchant's own) is left as it is. Outside Saleor: nothing."""
    from django.conf import settings

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None)
    if not isinstance(schedule, dict):
        return []
    added = []
    for name, entry in beat_schedule().items():
        if name not in schedule:
            schedule[name] = entry
            added.append(name)
    return added


def keep_beat_fair(scheduler) -> bool:
    """Stop one entry that is not due from holding back every other one.

    Celery's beat looks only at the top of its heap, and leaves an entry that answers
    "not due, look again in N seconds" on top (celery/celery#7649, fixed upstream by
    celery/celery#10468, in no Celery that Saleor 3.21–3.24 pins: 5.5.1–5.6.3). Saleor's
    own schedules do answer that way while nothing is dirty
    (saleor/core/schedules.py, `initiated_*_schedule`): in a quiet shop beat then
    sends nothing at all a minute after it starts, under Celery's default scheduler and
    Saleor's DatabaseScheduler alike — none of the plugin's tasks, none of Saleor's.
    This moves such an entry to when it asked to be looked at again (what the
    upstream fix does), so the next one gets its turn. Installed on the scheduler of
    the beat process (`celery.signals.beat_init`); True if it was installed now."""
    import heapq
    import numbers

    if getattr(scheduler, "_store_credit_fair", False):
        return False
    looked_at = scheduler.tick

    def tick(*args, **kwargs):
        heap = scheduler._heap
        if heap:
            event = heap[0]
            entry = event[2]
            due, next_time = scheduler.is_due(entry)
            if not due and isinstance(next_time, numbers.Real) and next_time > 0:
                when = scheduler._when(entry, next_time)
                if when > event[0]:  # it asks to be looked at later than its place
                    heapq.heapreplace(heap, type(event)(when, event[1], entry))
                    wait = heap[0][0] - scheduler._when(entry, 0)
                    return min(max(wait, 0.0), scheduler.max_interval)
        return looked_at(*args, **kwargs)

    scheduler.tick = tick
    scheduler._store_credit_fair = True
    return True


def on_beat_init(sender=None, **_kwargs) -> None:
    """`celery.signals.beat_init`: `sender` is beat's Service."""
    scheduler = getattr(sender, "scheduler", None)
    if scheduler is not None and keep_beat_fair(scheduler):
        import logging

        logging.getLogger(__name__).info(
            "Store credit: beat keeps a not-due entry from holding back the others "
            "(celery/celery#7649).")
