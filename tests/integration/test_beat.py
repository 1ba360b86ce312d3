"""Issue 16.2: the plugin's periodic tasks run under both beat setups merchants use,
with real `celery` processes against Redis and this test's database:

- Celery's default scheduler, as Saleor's docker-compose runs it: `celery worker -B`;
- Saleor's `DatabaseScheduler` (`celery beat --scheduler ...`) with a separate worker.

Every task is scheduled every 2 seconds (`STORE_CREDIT_PERIODIC_EVERY_SECONDS`); the
test reads beat's and the worker's logs: each task is sent by exactly one schedule
entry (no double runs) and succeeds in the worker."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402

from saleor_store_credit.periodic import PERIODIC_TASKS  # noqa: E402

DATABASE_SCHEDULER = "saleor.schedulers.schedulers.DatabaseScheduler"
EVERY_SECONDS = 2
RUN_SECONDS = 40
SENT = re.compile(r"Sending due task (\S+) \((\S+)\)")
SUCCEEDED = re.compile(r"Task (\S+)\[[0-9a-f-]+\] succeeded")


def _environment(tmp_path, broker_db: int) -> dict:
    settings = connection.settings_dict
    database = (f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
                f"{settings['PORT'] or 5432}/{settings['NAME']}")
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "saleor.settings",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
        "SECRET_KEY": "beat-test",
        "STORE_CREDIT_PERIODIC_EVERY_SECONDS": str(EVERY_SECONDS),
        "PYTHONPATH": os.pathsep.join(sys.path),
    })
    return env


def _flush_broker(broker_db: int) -> None:
    subprocess.run(["redis-cli", "-n", str(broker_db), "FLUSHDB"], check=False,
                   capture_output=True)


def _celery(args, env, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "saleor.celeryconf:app", *args,
         "--loglevel", "INFO"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    ), log


def _stop(processes):
    for process, log in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process, log in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def _wait_until_every_task_succeeded(paths, deadline):
    ours = {task for _name, task, _minutes in PERIODIC_TASKS}
    while time.monotonic() < deadline:
        text = "".join(path.read_text(errors="replace") for path in paths)
        if ours <= set(SUCCEEDED.findall(text)):
            return
        time.sleep(1)


def _check(beat_log: str, worker_log: str):
    ours = {task: name for name, task, _minutes in PERIODIC_TASKS}
    senders = {}
    for entry, task in SENT.findall(beat_log):
        senders.setdefault(task, set()).add(entry)
    succeeded = set(SUCCEEDED.findall(worker_log))
    for task, name in ours.items():
        assert senders.get(task) == {name}, (task, senders.get(task))
        assert task in succeeded, task
    return {task: len(re.findall(rf"Sending due task \S+ \({re.escape(task)}\)",
                                 beat_log)) for task in ours}


@pytest.mark.django_db(transaction=True)
def test_tasks_run_under_celerys_default_scheduler_worker_with_embedded_beat(tmp_path):
    # given Saleor's docker-compose setup: one `celery worker -B`, Celery's default
    # (file-backed) scheduler, no plugin rows consulted
    env = _environment(tmp_path, broker_db=11)
    _flush_broker(11)
    log = tmp_path / "worker.log"
    started = time.monotonic()
    processes = [_celery(["worker", "-B", "--pool", "solo",
                          "--schedule", str(tmp_path / "celerybeat-schedule")], env, log)]
    try:
        _wait_until_every_task_succeeded([log], started + RUN_SECONDS + 60)
    finally:
        _stop(processes)
    text = log.read_text(errors="replace")

    # then every task was sent by its one entry and succeeded, repeatedly
    assert "beat: Starting" in text, text[-3000:]
    sent = _check(text, text)
    assert all(count >= 1 for count in sent.values()), sent


@pytest.mark.django_db(transaction=True)
def test_tasks_run_once_under_saleors_database_scheduler(tmp_path):
    # given the plugin's rows from `migrate` and Saleor's DatabaseScheduler beat with
    # its own worker
    from saleor.schedulers.models import CustomPeriodicTask

    from saleor_store_credit.periodic import register_periodic_tasks

    register_periodic_tasks()
    rows_before = set(CustomPeriodicTask.objects.filter(
        name__startswith="saleor_store_credit.").values_list("name", flat=True))
    env = _environment(tmp_path, broker_db=12)
    _flush_broker(12)
    beat_log, worker_log = tmp_path / "beat.log", tmp_path / "worker.log"
    started = time.monotonic()
    processes = [
        _celery(["worker", "--pool", "solo"], env, worker_log),
        _celery(["beat", "--scheduler", DATABASE_SCHEDULER], env, beat_log),
    ]
    try:
        _wait_until_every_task_succeeded([worker_log], started + RUN_SECONDS + 60)
        time.sleep(3 * EVERY_SECONDS)  # a few more rounds, to see no entry doubles
    finally:
        _stop(processes)
    beat_text = beat_log.read_text(errors="replace")
    worker_text = worker_log.read_text(errors="replace")

    # then each task has one row (the one `migrate` made) and one sender, and ran
    assert "DatabaseScheduler" in beat_text, beat_text[-3000:]
    rows = CustomPeriodicTask.objects.filter(task__startswith="saleor_store_credit.")
    assert sorted(rows.values_list("task", flat=True)) == sorted(
        task for _name, task, _minutes in PERIODIC_TASKS)
    assert set(rows.values_list("name", flat=True)) == rows_before
    sent = _check(beat_text, worker_text)
    assert all(count >= 1 for count in sent.values()), sent


# --- one entry that is never due must not hold back the others (celery/celery#7649) ----


def _scheduler_with_an_entry_that_is_never_due():
    """A real Celery beat scheduler (in-memory broker) with an entry that answers as
    Saleor's `initiated_*_schedule` does while nothing is dirty — "not due, look again
    in 2 s" — and one of the plugin's kind, every second."""
    from datetime import timedelta

    from celery import Celery
    from celery.beat import Scheduler
    from celery.schedules import schedstate
    from celery.schedules import schedule as every

    class nothing_dirty(every):
        def is_due(self, last_run_at):
            return schedstate(False, 2.0)

    app = Celery("beat-fairness", broker="memory://")
    app.conf.beat_schedule = {
        "saleor-like": {"task": "example.search", "schedule": nothing_dirty(timedelta(seconds=2))},
        "ours": {"task": "example.sweep", "schedule": timedelta(seconds=1)},
    }
    return Scheduler(app, max_interval=5)


def _run(scheduler, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wait = min(scheduler.tick(), 0.25, deadline - time.monotonic())
        time.sleep(max(wait, 0))
    return scheduler.schedule["ours"].total_run_count


def test_an_entry_that_is_never_due_does_not_hold_back_the_plugins_entries():
    from saleor_store_credit.periodic import keep_beat_fair

    # given Celery's own scheduler: once the never-due entry is on top, ours starve
    plain = _scheduler_with_an_entry_that_is_never_due()
    starved = _run(plain, 6)
    # when the plugin keeps beat fair (as it does in every beat process)
    fair = _scheduler_with_an_entry_that_is_never_due()
    assert keep_beat_fair(fair) is True and keep_beat_fair(fair) is False
    ran = _run(fair, 6)
    # then the entry every second keeps being sent, and the never-due one never is
    assert starved <= 3, starved  # the Celery behaviour this works around
    assert ran >= 5, ran
    assert fair.schedule["saleor-like"].total_run_count == 0
