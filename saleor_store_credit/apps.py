from django.apps import AppConfig


class StoreCreditConfig(AppConfig):
    name = "saleor_store_credit"
    label = "saleor_store_credit"
    verbose_name = "Store credit"
    default_auto_field = "django.db.models.BigAutoField"
