"""Issue 17.2: the plugin's migrations never hurt the host.

- They depend only on Saleor migrations that every supported Saleor has, so the
  shop's `migrate` works on each of them (the oldest supported is 3.21.0).
- They apply from nothing and unapply again on the Saleor under test, and an
  install that already applied them has nothing left to do.
- The index on Saleor's `order_order` is built CONCURRENTLY: order writes go on
  while it builds (real connections and a real thread, no mocks).
"""

import threading
import time

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

APP = "saleor_store_credit"
INDEX = "store_credit_order_open_exposure_idx"
BEFORE_INDEX = "0010_credit_management"
# The newest migration of each Saleor app in the oldest supported Saleor (3.21.0:
# `git ls-tree 3.21.0:saleor/order/migrations`). A plugin migration may depend on
# it or on anything older, never on something newer.
OLDEST_SUPPORTED_SALEOR_LEAVES = {
    "account": "0086_auto_20240805_0851",  # swappable_dependency(AUTH_USER_MODEL)
    "order": "0202_alter_order_undiscounted_base_shipping_price_amount",
}


def _latest_plugin_migration():
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return loader.graph.leaf_nodes(APP)[0][1]


def _migrate(target):
    call_command("migrate", APP, target, verbosity=0, interactive=False)


def _index_state():
    """(exists, valid) of the exposure index on order_order."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indisvalid FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname = %s AND i.indrelid = 'order_order'::regclass
            """,
            [INDEX],
        )
        row = cursor.fetchone()
    return (row is not None, bool(row and row[0]))


def _audit_trigger_exists():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = "
            "'store_credit_credit_audit_append_only'"
        )
        return cursor.fetchone() is not None


def _plugin_tables():
    with connection.cursor() as cursor:
        return {
            name for name in connection.introspection.table_names(cursor)
            if name.startswith(f"{APP}_")
        }


@pytest.fixture
def back_to_latest(transactional_db):
    """Whatever a test does to the plugin's migrations, leave them all applied."""
    latest = _latest_plugin_migration()
    yield latest
    _migrate(latest)


def test_plugin_migrations_depend_only_on_saleor_migrations_every_supported_saleor_has():
    # given Saleor's migration graph as this Saleor has it
    graph = MigrationLoader(connection, ignore_no_migrations=True).graph
    allowed = {
        app: set(graph.forwards_plan((app, leaf)))
        for app, leaf in OLDEST_SUPPORTED_SALEOR_LEAVES.items()
    }

    # when the plugin's migrations name their dependencies on Saleor's apps
    saleor_dependencies = [
        (node, dependency)
        for node in graph.nodes
        if node[0] == APP
        for dependency in graph.node_map[node].parents
        if dependency.key[0] != APP
    ]

    # then each is one the oldest supported Saleor already has
    assert saleor_dependencies, "the exposure index must wait for Saleor's order app"
    for node, dependency in saleor_dependencies:
        app = dependency.key[0]
        assert app in allowed, f"{node} depends on {dependency.key}, an app not checked"
        assert dependency.key in allowed[app], (
            f"{node} depends on {dependency.key}, newer than "
            f"{app}.{OLDEST_SUPPORTED_SALEOR_LEAVES[app]} (Saleor 3.21.0)"
        )


def test_exposure_index_migration_is_non_atomic_and_builds_concurrently():
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    migration = loader.get_migration(APP, "0011_credit_audit_and_exposure_index")

    index_sql = [
        op.sql for op in migration.operations
        if getattr(op, "sql", "") and INDEX in op.sql and "CREATE INDEX" in op.sql
    ]

    assert migration.atomic is False
    assert index_sql and all("CREATE INDEX CONCURRENTLY" in sql for sql in index_sql)


def test_installed_plugin_migrations_leave_nothing_to_apply(transactional_db):
    # given the database as `migrate` left it (upgrade path: what is applied stays)
    executor = MigrationExecutor(connection)

    # when asking for the plan to the latest plugin migration
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(APP))

    # then nothing is left, and the index and the audit trigger are there
    assert plan == []
    assert _index_state() == (True, True)
    assert _audit_trigger_exists()


def test_plugin_migrations_unapply_to_zero_and_apply_again(back_to_latest):
    # given every plugin migration applied
    assert _index_state() == (True, True)

    # when the plugin is migrated to zero
    _migrate("zero")

    # then its tables, trigger and the index on Saleor's table are gone
    assert _plugin_tables() == set()
    assert _index_state() == (False, False)
    assert not _audit_trigger_exists()

    # when migrated again from nothing
    _migrate(back_to_latest)

    # then everything is back, the index valid
    assert f"{APP}_account" in _plugin_tables()
    assert _index_state() == (True, True)
    assert _audit_trigger_exists()


def test_exposure_index_migration_rebuilds_an_invalid_index_left_by_an_interrupted_build(
    back_to_latest,
):
    # given the migration before the index, and an index an interrupted
    # CREATE INDEX CONCURRENTLY left behind (Postgres keeps it, INVALID)
    _migrate(BEFORE_INDEX)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {INDEX} ON order_order (user_id)")
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = %s::regclass",
            [INDEX],
        )
    assert _index_state() == (True, False)

    # when the migration runs again
    _migrate(back_to_latest)

    # then the index is rebuilt and valid, with the exposure query's columns
    assert _index_state() == (True, True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [INDEX])
        definition = cursor.fetchone()[0]
    assert "(user_id, currency, created_at)" in definition
    assert "WHERE" in definition


def _raw_connection():
    """A connection of its own to the test database (not Django's)."""
    return connection.get_new_connection(connection.get_connection_params())


def _wait_for_index_build_waiting(timeout=30):
    """Until a backend runs the CREATE INDEX on order_order and waits on a lock."""
    monitor = _raw_connection()
    monitor.autocommit = True
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = monitor.execute(
                """
                SELECT wait_event_type FROM pg_stat_activity
                WHERE query ILIKE %s AND query ILIKE %s AND state = 'active'
                  AND pid <> pg_backend_pid()
                """,
                ["%CREATE INDEX%", f"%{INDEX}%"],
            ).fetchone()
            if row and row[0] == "Lock":
                return True
            time.sleep(0.05)
        return False
    finally:
        monitor.close()


def test_exposure_index_builds_without_blocking_order_writes(back_to_latest, order_list):
    # given the plugin migrated to just before the index
    _migrate(BEFORE_INDEX)
    assert _index_state() == (False, False)
    first, second = order_list[0], order_list[1]

    # and a write transaction on order_order that is still open (a checkout
    # completing), so the index build has to wait for it
    open_writer = _raw_connection()
    open_writer.execute(
        "UPDATE order_order SET customer_note = 'open writer' WHERE id = %s",
        [first.pk],
    )

    # when the index migration runs in its own thread and connection
    outcome = {}

    def run_migration():
        connections["replica"] = connections["default"]
        try:
            _migrate("0011_credit_audit_and_exposure_index")
            outcome["done"] = True
        except Exception as error:  # reported below, in the test's thread
            outcome["error"] = error
        finally:
            connections.close_all()

    migration = threading.Thread(target=run_migration)
    migration.start()
    try:
        assert _wait_for_index_build_waiting(), "the index build never started"

        # then another order write goes through while the index builds
        writer = _raw_connection()
        try:
            writer.execute("SET lock_timeout = '5s'")
            started = time.monotonic()
            writer.execute(
                "UPDATE order_order SET customer_note = 'written during the build' "
                "WHERE id = %s",
                [second.pk],
            )
            writer.commit()
            took = time.monotonic() - started
        finally:
            writer.close()
        assert took < 5
        assert migration.is_alive(), "the build should still be waiting for the open writer"
    finally:
        # the open writer finishes; the build can complete
        open_writer.commit()
        open_writer.close()
        migration.join(120)

    assert not migration.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome.get("done")
    assert _index_state() == (True, True)
    second.refresh_from_db()
    assert second.customer_note == "written during the build"
