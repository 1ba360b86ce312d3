"""The plugin as a merchant meets it: installed, listed, configured, migrated."""

import pytest

from ._saleor import SKIP_REASON  # noqa: E402

pytest.importorskip("saleor", reason=SKIP_REASON)

from django.db import connection  # noqa: E402

from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_store_credit.plugin import PLUGIN_ID  # noqa: E402

from .fixtures import STORE_CREDIT_API  # noqa: E402

PLUGINS_QUERY = """
query {
  plugins(first: 100) {
    edges { node { id name globalConfiguration { active configuration { name value type label } } } }
  }
}
"""

PLUGIN_UPDATE = """
mutation Update($id: ID!, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, input: $input) {
    plugin { id globalConfiguration { active configuration { name value } } }
    errors { field code message }
  }
}
"""


def test_plugin_is_listed_by_saleors_plugins_query_with_its_configuration(
    store_credit_plugin, staff_api_client, permission_manage_plugins
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    content = staff_api_client.post_graphql(PLUGINS_QUERY).json()

    nodes = {edge["node"]["id"]: edge["node"] for edge in content["data"]["plugins"]["edges"]}
    assert PLUGIN_ID in nodes
    config = nodes[PLUGIN_ID]["globalConfiguration"]
    assert config["active"] is True
    fields = {field["name"]: field for field in config["configuration"]}
    assert fields["max_balance_per_account"]["label"] == "Maximum balance per account"
    assert fields["refund_to_store_credit_by_default"]["type"] == "BOOLEAN"
    assert fields["webhook_secret"]["type"] == "SECRET"
    assert fields["hold_lifetime_minutes"]["value"] == "1440"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_balance_per_account", "lots"),
        ("max_balance_per_account", "-5"),
        ("hold_lifetime_minutes", "0"),
        ("webhook_target_urls", "ftp://example.com/hook"),
    ],
)
def test_plugin_update_refuses_bad_configuration_and_keeps_the_old_one(
    store_credit_plugin, staff_api_client, permission_manage_plugins, name, value
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    content = staff_api_client.post_graphql(
        PLUGIN_UPDATE,
        {"id": PLUGIN_ID, "input": {"configuration": [{"name": name, "value": value}]}},
    ).json()

    errors = content["data"]["pluginUpdate"]["errors"]
    camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    assert errors and errors[0]["field"] == camel  # Saleor camel-cases field names
    assert errors[0]["code"] == "INVALID"
    stored = PluginConfiguration.objects.get(identifier=PLUGIN_ID).configuration
    assert {item["name"]: item["value"] for item in stored}[name] != value


def test_plugin_update_accepts_good_configuration(
    store_credit_plugin, staff_api_client, permission_manage_plugins
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    content = staff_api_client.post_graphql(
        PLUGIN_UPDATE,
        {
            "id": PLUGIN_ID,
            "input": {
                "configuration": [
                    {"name": "max_balance_per_account", "value": "500.00"},
                    {"name": "enabled_channels", "value": "main, outlet"},
                ]
            },
        },
    ).json()

    assert content["data"]["pluginUpdate"]["errors"] == []
    stored = {
        item["name"]: item["value"]
        for item in PluginConfiguration.objects.get(identifier=PLUGIN_ID).configuration
    }
    assert stored["max_balance_per_account"] == "500.00"


def test_migrations_created_the_ledger_tables_and_triggers(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'store_credit_%' ORDER BY 1"
        )
        triggers = [row[0] for row in cursor.fetchall()]
    assert triggers == [
        "store_credit_account_no_delete",
        "store_credit_credit_audit_append_only",
        "store_credit_entry_append_only",
        "store_credit_hold_no_delete",
        "store_credit_hold_resolves_once",
        "store_credit_idempotency_append_only",
        "store_credit_memo_append_only",
        "store_credit_memo_line_append_only",
        "store_credit_on_account_entry_append_only",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = "
            "'store_credit_order_open_exposure_idx'"
        )
        [(index,)] = cursor.fetchall()
    assert "order_order" in index and "(user_id, currency, created_at)" in index


def test_endpoint_is_not_found_while_the_plugin_is_inactive(
    store_credit_plugin, client
):
    store_credit_plugin.active = False
    store_credit_plugin.save()

    response = client.post(
        STORE_CREDIT_API, {"query": "{ me { email } }"}, content_type="application/json"
    )

    assert response.status_code == 404


def test_endpoint_refuses_get_and_bad_json(store_credit_plugin, client):
    assert client.get(STORE_CREDIT_API).status_code == 405
    response = client.post(STORE_CREDIT_API, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["exception"]["code"] == "InvalidJSON"


def test_periodic_tasks_are_in_saleors_beat_table_after_migrate(db):
    from saleor.schedulers.models import CustomPeriodicTask

    from saleor_store_credit.periodic import PERIODIC_TASKS, register_periodic_tasks

    register_periodic_tasks()  # what post_migrate runs; a second run changes nothing
    register_periodic_tasks()

    for name, task, minutes in PERIODIC_TASKS:
        row = CustomPeriodicTask.objects.get(name=name)
        assert row.task == task
        assert row.interval.every == minutes and row.enabled


def test_migrate_registered_the_periodic_tasks(django_db_setup, django_db_blocker):
    # The test database was built by `migrate`, whose post_migrate ran our hook.
    from saleor.schedulers.models import CustomPeriodicTask

    with django_db_blocker.unblock():
        names = set(CustomPeriodicTask.objects.values_list("name", flat=True))
    assert "saleor_store_credit.release_abandoned_holds" in names
