from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StoreCreditConfig(AppConfig):
    name = "saleor_store_credit"
    label = "saleor_store_credit"
    verbose_name = "Store credit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .periodic import install_beat_schedule, register_periodic_tasks
        from .signals import listen
        from .webhooks import outbox

        listen(outbox.on_store_credit_event, dispatch_uid="saleor_store_credit.webhook_outbox",
               wants=outbox.wants, batch_receiver=outbox.on_store_credit_events)
        from . import notifications

        listen(notifications.on_store_credit_event, dispatch_uid="saleor_store_credit.emails",
               wants=notifications.wants)
        from django.apps import apps

        if apps.is_installed("saleor.plugins"):
            from django.db.models.signals import post_delete, post_save

            from saleor.plugins.models import PluginConfiguration

            from .conf import forget_settings

            for signal in (post_save, post_delete):
                signal.connect(
                    forget_settings, sender=PluginConfiguration,
                    dispatch_uid=f"saleor_store_credit.forget_settings.{signal}",
                )

        install_beat_schedule()
        try:
            from celery.signals import beat_init
        except ImportError:  # outside Saleor (the ledger tier): no Celery
            pass
        else:
            from .periodic import on_beat_init

            beat_init.connect(on_beat_init, weak=False,
                              dispatch_uid="saleor_store_credit.keep_beat_fair")
        # Personal data goes when Saleor deletes a user, on every deletion path
        # (see privacy.py for why a signal and not the customer_deleted hook).
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from .privacy import on_user_pre_delete

        pre_delete.connect(
            on_user_pre_delete, sender=settings.AUTH_USER_MODEL,
            dispatch_uid="saleor_store_credit.anonymise_deleted_user",
        )

        post_migrate.connect(
            register_periodic_tasks, sender=self,
            dispatch_uid="saleor_store_credit.register_periodic_tasks",
        )
