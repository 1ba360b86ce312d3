# Risk scores and automatic limits, insurance and guarantees, forced credit holds
# (issue 19, items 3-5): new tables only, plus nullable/defaulted columns on three
# existing ones (blocking rule -> risk class, limit adjustment origin, order hold
# forced / ready to release). The new columns on existing tables carry a database
# default, so code of the previous release that inserts rows keeps working while
# processes restart. No Saleor table is touched.

import django.db.models.deletion
import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_store_credit', '0019_payment_terms'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AutomaticLimitRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('name', models.CharField(max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('amount', models.DecimalField(blank=True, decimal_places=4, max_digits=30, null=True)),
                ('condition_kind', models.CharField(blank=True, choices=[('order_count', 'Orders placed in the period'), ('order_value', 'Value of orders placed in the period'), ('average_days_to_pay', 'Average days to pay'), ('refunded_share', 'Share of orders refunded or returned (%)'), ('months_as_customer', 'Months as a customer'), ('overdue_amount', 'Current overdue amount'), ('manual', 'Manual value set by staff')], default='', max_length=32)),
                ('condition_min', models.DecimalField(blank=True, decimal_places=4, max_digits=20, null=True)),
                ('condition_key', models.CharField(blank=True, default='', max_length=64)),
                ('valid_days', models.PositiveIntegerField(blank=True, null=True)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('pk',),
            },
        ),
        migrations.CreateModel(
            name='CreditCover',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('kind', models.CharField(choices=[('insurance', 'Credit insurance'), ('guarantee', 'Guarantee')], max_length=16)),
                ('provider', models.CharField(blank=True, default='', max_length=255)),
                ('cover_type', models.CharField(blank=True, default='', max_length=255)),
                ('reference', models.CharField(blank=True, default='', max_length=255)),
                ('currency', models.CharField(max_length=3)),
                ('amount', models.DecimalField(decimal_places=4, max_digits=30)),
                ('valid_from', models.DateTimeField()),
                ('valid_to', models.DateTimeField()),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('cancel_reason', models.CharField(blank=True, default='', max_length=255)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('valid_from', 'pk'),
            },
        ),
        migrations.CreateModel(
            name='CustomerRiskScore',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('score', models.DecimalField(blank=True, decimal_places=2, max_digits=7, null=True)),
                ('details', models.JSONField(default=list)),
                ('computed_at', models.DateTimeField(blank=True, null=True)),
                ('class_changed_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name='ForcedHold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rule_name', models.CharField(max_length=255)),
                ('message', models.TextField()),
                ('values', models.JSONField(default=dict)),
                ('status', models.CharField(choices=[('active', 'On forced hold'), ('lifted', 'Lifted by staff')], default='active', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('lifted_at', models.DateTimeField(blank=True, null=True)),
                ('lifted_by', models.CharField(blank=True, default='', max_length=80)),
                ('lifted_by_label', models.CharField(blank=True, default='', max_length=255)),
                ('lift_reason', models.CharField(blank=True, default='', max_length=255)),
                ('lifted_until', models.DateField(blank=True, null=True)),
                ('rearmed', models.BooleanField(default=False)),
            ],
        ),
        migrations.CreateModel(
            name='ForcedHoldRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('name', models.CharField(max_length=255)),
                ('condition', models.CharField(choices=[('days_overdue', 'Days overdue over N'), ('overdue_amount', 'Overdue amount over a threshold'), ('risk_class', 'Customer in a risk class')], max_length=32)),
                ('days', models.PositiveIntegerField(blank=True, null=True)),
                ('threshold', models.DecimalField(blank=True, decimal_places=4, max_digits=30, null=True)),
                ('currency', models.CharField(blank=True, default='', max_length=3)),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('pk',),
            },
        ),
        migrations.CreateModel(
            name='ManualScoreValue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('key', models.CharField(max_length=64)),
                ('value', models.DecimalField(decimal_places=4, max_digits=20)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.CreateModel(
            name='RiskClass',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=64, unique=True)),
                ('description', models.TextField(blank=True, default='')),
                ('min_score', models.DecimalField(decimal_places=2, max_digits=7, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('min_score',),
            },
        ),
        migrations.CreateModel(
            name='RiskScoreRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_type', models.CharField(choices=[('staff', 'Staff user'), ('app', 'App'), ('customer', 'Customer'), ('system', 'System')], max_length=16)),
                ('actor_id', models.CharField(blank=True, default='', max_length=64)),
                ('actor_label', models.CharField(blank=True, default='', max_length=255)),
                ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='running', max_length=16)),
                ('total', models.PositiveIntegerField(default=0)),
                ('processed', models.PositiveIntegerField(default=0)),
                ('class_changes', models.PositiveIntegerField(default=0)),
                ('proposals', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True, default='')),
                ('started_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ('-pk',),
            },
        ),
        migrations.CreateModel(
            name='ScoreType',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('order_count', 'Orders placed in the period'), ('order_value', 'Value of orders placed in the period'), ('average_days_to_pay', 'Average days to pay'), ('refunded_share', 'Share of orders refunded or returned (%)'), ('months_as_customer', 'Months as a customer'), ('overdue_amount', 'Current overdue amount'), ('manual', 'Manual value set by staff')], max_length=32)),
                ('name', models.CharField(blank=True, default='', max_length=255)),
                ('weight', models.DecimalField(decimal_places=2, max_digits=7)),
                ('period_days', models.PositiveIntegerField(blank=True, null=True)),
                ('days', models.PositiveIntegerField(blank=True, null=True)),
                ('currency', models.CharField(blank=True, default='', max_length=3)),
                ('manual_key', models.CharField(blank=True, default='', max_length=64)),
                ('bands', models.JSONField(default=list)),
                ('position', models.PositiveIntegerField(default=0)),
            ],
            options={
                'ordering': ('position', 'pk'),
            },
        ),
        migrations.CreateModel(
            name='ScoringGroup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=255, unique=True)),
                ('description', models.TextField(blank=True, default='')),
                ('is_active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ('name',),
            },
        ),
        migrations.AddField(
            model_name='limitadjustment',
            name='origin',
            field=models.CharField(blank=True, db_default='', default='', max_length=32),
        ),
        migrations.AddField(
            model_name='limitadjustment',
            name='origin_ref',
            field=models.CharField(blank=True, db_default='', default='', max_length=255),
        ),
        migrations.AddField(
            model_name='orderhold',
            name='forced',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='orderhold',
            name='ready_to_release_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='creditaudit',
            name='kind',
            field=models.CharField(choices=[('check_passed', 'Credit check passed'), ('check_warned', 'Credit check passed with warnings'), ('checkout_blocked', 'Checkout blocked'), ('order_held', 'Order held'), ('hold_updated', 'Hold reasons changed'), ('release_requested', 'Release requested'), ('order_released', 'Order released'), ('order_rejected', 'Order rejected'), ('confirmed_outside', 'Order confirmed outside the plugin'), ('cancelled_outside', 'Held order cancelled outside the plugin'), ('limit_adjustment', 'Limit adjustment'), ('limit_changed', 'Limit changed'), ('temporary_limit_ended', 'Temporary limit ended'), ('profile_changed', 'Customer credit profile changed'), ('group_changed', 'Credit group changed'), ('rule_changed', 'Blocking rule changed'), ('risk_setup_changed', 'Risk scoring setup changed'), ('risk_class_changed', 'Risk class changed'), ('manual_score_set', 'Manual score value set'), ('limit_proposed', 'Automatic limit proposed'), ('cover_changed', 'Insurance or guarantee changed'), ('forced_hold_placed', 'Forced credit hold placed'), ('forced_hold_lifted', 'Forced credit hold lifted'), ('ready_to_release', 'Held order ready to release')], max_length=32),
        ),
        migrations.AddConstraint(
            model_name='limitadjustment',
            constraint=models.UniqueConstraint(condition=models.Q(('origin', 'risk_class'), ('status__in', ['draft', 'submitted', 'approved'])), fields=('user', 'currency'), name='store_credit_one_open_generated_adjustment'),
        ),
        migrations.AddField(
            model_name='creditcover',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='store_credit_covers', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='customerriskscore',
            name='user',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='store_credit_risk_score', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='forcedhold',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='forcedholdrule',
            name='group',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='saleor_store_credit.creditgroup'),
        ),
        migrations.AddField(
            model_name='forcedhold',
            name='rule',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='saleor_store_credit.forcedholdrule'),
        ),
        migrations.AddField(
            model_name='manualscorevalue',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='riskclass',
            constraint=models.CheckConstraint(condition=models.Q(('min_score__gte', 0), ('min_score__lte', 100)), name='store_credit_risk_class_min_score'),
        ),
        migrations.AddField(
            model_name='forcedholdrule',
            name='risk_class',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='saleor_store_credit.riskclass'),
        ),
        migrations.AddField(
            model_name='customerriskscore',
            name='risk_class',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='saleor_store_credit.riskclass'),
        ),
        migrations.AddField(
            model_name='automaticlimitrule',
            name='risk_class',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='saleor_store_credit.riskclass'),
        ),
        migrations.AddField(
            model_name='blockingrule',
            name='risk_class',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='saleor_store_credit.riskclass'),
        ),
        migrations.AddField(
            model_name='scoringgroup',
            name='credit_group',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='saleor_store_credit.creditgroup'),
        ),
        migrations.AddField(
            model_name='scoretype',
            name='scoring_group',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='score_types', to='saleor_store_credit.scoringgroup'),
        ),
        migrations.AddField(
            model_name='customerriskscore',
            name='scoring_group',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='saleor_store_credit.scoringgroup'),
        ),
        migrations.AddIndex(
            model_name='creditcover',
            index=models.Index(fields=['user', 'currency', 'valid_to'], name='saleor_stor_user_id_3c22f3_idx'),
        ),
        migrations.AddConstraint(
            model_name='creditcover',
            constraint=models.CheckConstraint(condition=models.Q(('valid_to__gt', models.F('valid_from'))), name='store_credit_cover_period'),
        ),
        migrations.AddConstraint(
            model_name='creditcover',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='store_credit_cover_amount'),
        ),
        migrations.AddConstraint(
            model_name='forcedhold',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'active')), fields=('user',), name='store_credit_one_active_forced_hold'),
        ),
        migrations.AddConstraint(
            model_name='forcedhold',
            constraint=models.UniqueConstraint(condition=models.Q(('rearmed', False), ('status', 'lifted')), fields=('user',), name='store_credit_one_lift_in_force'),
        ),
        migrations.AddConstraint(
            model_name='manualscorevalue',
            constraint=models.UniqueConstraint(fields=('user', 'key'), name='store_credit_manual_score'),
        ),
        migrations.AddConstraint(
            model_name='automaticlimitrule',
            constraint=models.CheckConstraint(condition=models.Q(('amount__isnull', True), ('amount__gte', 0), _connector='OR'), name='store_credit_auto_limit_not_negative'),
        ),
        migrations.AddConstraint(
            model_name='scoringgroup',
            constraint=models.UniqueConstraint(django.db.models.functions.comparison.Coalesce(models.F('credit_group'), models.Value(0)), name='store_credit_scoring_group_per_credit_group'),
        ),
        migrations.AddConstraint(
            model_name='scoretype',
            constraint=models.CheckConstraint(condition=models.Q(('weight__gt', 0), ('weight__lte', 1000)), name='store_credit_score_type_weight'),
        ),
    ]
