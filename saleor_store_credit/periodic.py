"""Periodic tasks, registered without editing Saleor's settings.

Saleor's beat (`saleor.schedulers.schedulers.DatabaseScheduler`) reads
`CustomPeriodicTask` rows; plain django-celery-beat `PeriodicTask` rows are ignored.
The rows are (re)written after every `migrate`; staff may change the interval or
disable a task in the database and it stays so (only missing rows are created).
"""

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
        "saleor_store_credit.deliver_due_webhooks",
        "saleor_store_credit.tasks.deliver_due_webhooks_task",
        1,
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
