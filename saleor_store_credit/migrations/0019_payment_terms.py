# Payment terms and pay on account (issue 19, items 1 and 2). Additive: five new
# tables, a new blocking-rule type and new audit kinds (choices only, no column
# change), and the append-only trigger of 0015 on the on-account movements
# (personal text may be anonymised, nothing else changes).

import django.db.models.deletion
import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models

ENTRY_APPEND_ONLY = r"""
CREATE TRIGGER store_credit_on_account_entry_append_only
    BEFORE UPDATE OR DELETE ON saleor_store_credit_onaccountentry
    FOR EACH ROW EXECUTE FUNCTION store_credit_anonymise_only('actor_label', 'reference', 'note');
"""
ENTRY_APPEND_ONLY_BACKWARD = (
    "DROP TRIGGER IF EXISTS store_credit_on_account_entry_append_only "
    "ON saleor_store_credit_onaccountentry;"
)


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_store_credit', '0018_email_resend'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='blockingrule',
            name='rule_type',
            field=models.CharField(choices=[('limit_exceeded', 'Credit limit exceeded'), ('limit_used_percent', 'Share of the credit limit used'), ('overdue_amount', 'Overdue amount over a threshold'), ('order_value', 'Order value over a threshold'), ('limit_expired', 'Credit limit expired'), ('account_on_hold', 'Account on hold'), ('payment_method', 'Payment method'), ('days_overdue', 'Days overdue')], max_length=32),
        ),
        migrations.AlterField(
            model_name='creditaudit',
            name='kind',
            field=models.CharField(choices=[('check_passed', 'Credit check passed'), ('check_warned', 'Credit check passed with warnings'), ('checkout_blocked', 'Checkout blocked'), ('order_held', 'Order held'), ('hold_updated', 'Hold reasons changed'), ('release_requested', 'Release requested'), ('order_released', 'Order released'), ('order_rejected', 'Order rejected'), ('confirmed_outside', 'Order confirmed outside the plugin'), ('cancelled_outside', 'Held order cancelled outside the plugin'), ('limit_adjustment', 'Limit adjustment'), ('limit_changed', 'Limit changed'), ('temporary_limit_ended', 'Temporary limit ended'), ('profile_changed', 'Customer credit profile changed'), ('group_changed', 'Credit group changed'), ('rule_changed', 'Blocking rule changed'), ('terms_changed', 'Payment terms changed'), ('order_terms', 'Order placed on payment terms'), ('order_due', 'Order due'), ('order_overdue', 'Order overdue'), ('on_account_authorized', 'Pay on account authorized'), ('on_account_refused', 'Pay on account refused'), ('invoice_payment', 'Invoice payment recorded'), ('on_account_changed', 'Pay on account refunded or cancelled')], max_length=32),
        ),
        migrations.CreateModel(
            name='OnAccountPayment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('transaction_token', models.UUIDField(unique=True)),
                ('checkout_token', models.UUIDField(blank=True, db_index=True, null=True)),
                ('order_id', models.UUIDField(blank=True, db_index=True, null=True)),
                ('currency', models.CharField(max_length=3)),
                ('authorized_amount', models.DecimalField(decimal_places=4, max_digits=30)),
                ('open_amount', models.DecimalField(decimal_places=4, max_digits=30)),
                ('paid_amount', models.DecimalField(decimal_places=4, default=0, max_digits=30)),
                ('refunded_amount', models.DecimalField(decimal_places=4, default=0, max_digits=30)),
                ('cancelled_amount', models.DecimalField(decimal_places=4, default=0, max_digits=30)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('completing_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='store_credit_on_account_payments', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='OnAccountEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('kind', models.CharField(choices=[('authorized', 'Authorized at checkout'), ('payment', 'Invoice payment recorded'), ('refund', 'Refunded'), ('cancelled', 'Authorization cancelled')], max_length=16)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=30)),
                ('reference', models.CharField(blank=True, default='', max_length=255)),
                ('note', models.CharField(blank=True, default='', max_length=255)),
                ('order_id', models.UUIDField(blank=True, db_index=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('payment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='saleor_store_credit.onaccountpayment')),
            ],
            options={
                'ordering': ('pk',),
            },
        ),
        migrations.CreateModel(
            name='PaymentTerms',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=255, unique=True)),
                ('description', models.TextField(blank=True, default='')),
                ('basis', models.CharField(choices=[('order_date', 'Days after the order date'), ('end_of_month', "Days after the end of the order's month"), ('fulfilment', 'Days after the order is fulfilled')], default='order_date', max_length=16)),
                ('days', models.PositiveIntegerField(default=0)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('name',),
                'constraints': [models.CheckConstraint(condition=models.Q(('days__lte', 3650)), name='store_credit_terms_days_range')],
            },
        ),
        migrations.CreateModel(
            name='OrderTerms',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('order_id', models.UUIDField(unique=True)),
                ('order_number', models.IntegerField(null=True)),
                ('channel_slug', models.CharField(max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('terms_name', models.CharField(max_length=255)),
                ('basis', models.CharField(choices=[('order_date', 'Days after the order date'), ('end_of_month', "Days after the end of the order's month"), ('fulfilment', 'Days after the order is fulfilled')], max_length=16)),
                ('days', models.PositiveIntegerField()),
                ('source', models.CharField(choices=[('customer', 'Customer'), ('group', 'Credit group'), ('channel', 'Channel default')], max_length=16)),
                ('placed_at', models.DateTimeField()),
                ('fulfilled_at', models.DateTimeField(blank=True, null=True)),
                ('due_date', models.DateField(blank=True, null=True)),
                ('paid_at', models.DateTimeField(blank=True, null=True)),
                ('due_notified_at', models.DateTimeField(blank=True, null=True)),
                ('overdue_notified_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('terms', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='saleor_store_credit.paymentterms')),
            ],
        ),
        migrations.CreateModel(
            name='PaymentTermsAssignment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel_slug', models.CharField(blank=True, default='', max_length=255)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('group', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='payment_terms', to='saleor_store_credit.creditgroup')),
                ('terms', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='assignments', to='saleor_store_credit.paymentterms')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='store_credit_payment_terms', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddConstraint(
            model_name='onaccountpayment',
            constraint=models.CheckConstraint(condition=models.Q(('open_amount', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('authorized_amount'), '-', models.F('paid_amount')), '-', models.F('cancelled_amount')))), name='store_credit_on_account_open_balance'),
        ),
        migrations.AddConstraint(
            model_name='onaccountpayment',
            constraint=models.CheckConstraint(condition=models.Q(('authorized_amount__gt', 0), ('cancelled_amount__gte', 0), ('open_amount__gte', 0), ('paid_amount__gte', 0), ('refunded_amount__gte', 0)), name='store_credit_on_account_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='onaccountpayment',
            constraint=models.CheckConstraint(condition=models.Q(('refunded_amount__lte', models.F('paid_amount'))), name='store_credit_on_account_refund_within_paid'),
        ),
        migrations.AddConstraint(
            model_name='onaccountentry',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='store_credit_on_account_entry_positive'),
        ),
        migrations.AddIndex(
            model_name='orderterms',
            index=models.Index(fields=['user', 'due_date'], name='sc_order_terms_user_due'),
        ),
        migrations.AddIndex(
            model_name='orderterms',
            index=models.Index(condition=models.Q(('paid_at__isnull', True)), fields=['due_date'], name='sc_order_terms_due'),
        ),
        migrations.AddConstraint(
            model_name='paymenttermsassignment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('channel_slug', ''), ('group__isnull', True), ('user__isnull', False)), models.Q(('channel_slug', ''), ('group__isnull', False), ('user__isnull', True)), models.Q(('group__isnull', True), ('user__isnull', True), models.Q(('channel_slug', ''), _negated=True)), _connector='OR'), name='store_credit_terms_assignment_one_owner'),
        ),
        migrations.AddConstraint(
            model_name='paymenttermsassignment',
            constraint=models.UniqueConstraint(condition=models.Q(('user__isnull', False)), fields=('user',), name='store_credit_terms_one_per_customer'),
        ),
        migrations.AddConstraint(
            model_name='paymenttermsassignment',
            constraint=models.UniqueConstraint(condition=models.Q(('group__isnull', False)), fields=('group',), name='store_credit_terms_one_per_group'),
        ),
        migrations.AddConstraint(
            model_name='paymenttermsassignment',
            constraint=models.UniqueConstraint(condition=models.Q(('channel_slug', ''), _negated=True), fields=('channel_slug',), name='store_credit_terms_one_per_channel'),
        ),
        migrations.RunSQL(ENTRY_APPEND_ONLY, ENTRY_APPEND_ONLY_BACKWARD),
    ]
