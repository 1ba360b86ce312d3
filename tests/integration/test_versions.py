"""Issue 17.1: the Saleor versions the plugin supports, declared in one place and
enforced: the App manifest asks Saleor for the range, pyproject and README state it,
and the plugin refuses activation on a Saleor outside it with a Dashboard error."""

import re
import tomllib
from pathlib import Path

import pytest

from ._saleor import SKIP_REASON

pytest.importorskip("saleor", reason=SKIP_REASON)

import saleor  # noqa: E402
from saleor.app.manifest_validations import clean_manifest_data  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_store_credit import compat  # noqa: E402
from saleor_store_credit.plugin import PLUGIN_ID, StoreCreditPlugin  # noqa: E402

from .test_plugin import PLUGIN_UPDATE  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = f"/plugins/global/{PLUGIN_ID}/"


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("3.20.99", False),
        ("3.21.0", True),
        ("3.21.69", True),
        ("3.22.67", True),
        ("3.23.28", True),
        ("3.24.0-a.0", True),  # main
        ("3.24.3", True),
        ("3.25.0", False),
        ("4.0.0", False),
        ("not a version", False),
    ],
)
def test_unsupported_saleor_reason_names_the_supported_range(version, supported):
    reason = compat.unsupported_saleor_reason(version)

    if supported:
        assert reason is None
    else:
        assert version in reason and "3.21" in reason and "3.24" in reason


def test_the_saleor_under_test_is_supported():
    assert compat.unsupported_saleor_reason(saleor.__version__) is None


@pytest.fixture
def inactive_plugin(settings, saleor_test_plugins, db):
    from .fixtures import PLUGIN_PATH, WEBHOOK_PLUGIN

    settings.PLUGINS = [*settings.PLUGINS, WEBHOOK_PLUGIN, PLUGIN_PATH]
    return PluginConfiguration.objects.create(
        identifier=PLUGIN_ID, name=StoreCreditPlugin.PLUGIN_NAME, active=False,
        configuration=[dict(item) for item in StoreCreditPlugin.DEFAULT_CONFIGURATION],
    )


def test_activation_on_an_unsupported_saleor_is_refused_with_a_dashboard_error(
    inactive_plugin, staff_api_client, permission_manage_plugins, monkeypatch
):
    # given a Saleor outside the supported range (its version is what the check reads)
    staff_api_client.user.user_permissions.add(permission_manage_plugins)
    monkeypatch.setattr(saleor, "__version__", "3.20.12")

    # when staff switch the plugin on in the Dashboard
    content = staff_api_client.post_graphql(
        PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {"active": True}}
    ).json()

    # then Saleor shows the plugin's error on the "active" switch, and it stays off
    errors = content["data"]["pluginUpdate"]["errors"]
    assert [error["field"] for error in errors] == ["active"]
    assert errors[0]["code"] == "PLUGIN_MISCONFIGURED"
    assert "3.20.12" in errors[0]["message"] and "3.21" in errors[0]["message"]
    inactive_plugin.refresh_from_db()
    assert inactive_plugin.active is False


def test_activation_on_a_supported_saleor_is_accepted_and_deactivation_always_is(
    inactive_plugin, staff_api_client, permission_manage_plugins, monkeypatch
):
    staff_api_client.user.user_permissions.add(permission_manage_plugins)

    switched_on = staff_api_client.post_graphql(
        PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {"active": True}}
    ).json()["data"]["pluginUpdate"]
    monkeypatch.setattr(saleor, "__version__", "3.20.12")
    switched_off = staff_api_client.post_graphql(
        PLUGIN_UPDATE, {"id": PLUGIN_ID, "input": {"active": False}}
    ).json()["data"]["pluginUpdate"]

    assert switched_on["errors"] == [] and switched_off["errors"] == []
    inactive_plugin.refresh_from_db()
    assert inactive_plugin.active is False


def test_manifest_requires_the_supported_saleor_range(store_credit_plugin, client):
    manifest = client.get(BASE + "app/manifest").json()

    assert manifest["requiredSaleorVersion"] == compat.REQUIRED_SALEOR_VERSION
    # Saleor's own check of the range against this Saleor (raises if unmet; it
    # replaces the range by its verdict in place)
    clean_manifest_data(manifest, raise_for_saleor_version=True)
    assert manifest["requiredSaleorVersion"] == {
        "constraint": compat.REQUIRED_SALEOR_VERSION, "satisfied": True,
    }


def test_pyproject_and_readme_declare_the_same_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    readme = (ROOT / "README.md").read_text()

    declared = project["tool"]["saleor-store-credit"]["supported-saleor"]
    assert declared == compat.REQUIRED_SALEOR_VERSION
    section = readme.split("## Supported Saleor versions", 1)[1].split("\n## ", 1)[0]
    for series in ("3.21", "3.22", "3.23", "main"):
        assert re.search(rf"^\| {re.escape(series)}", section, re.M), series
    assert compat.REQUIRED_SALEOR_VERSION in section
