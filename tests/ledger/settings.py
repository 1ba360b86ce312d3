"""Tier 1: the ledger on plain Django + PostgreSQL, no Saleor."""

import os

SECRET_KEY = "ledger-tests-only"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "saleor_store_credit",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("STORE_CREDIT_DB_NAME", "store_credit"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "TEST": {"NAME": os.environ.get("STORE_CREDIT_TEST_DB", "test_store_credit")},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
