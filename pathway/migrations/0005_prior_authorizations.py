"""Prior authorizations become records of their own (the trial's and, separately, the implant's).

The trial authorization the episode held in four fields (auth_payer, auth_number, auth_valid_from, auth_valid_to)
moves into a PriorAuthorization of step "trial". A complete one (number and both dates) was "on file", which
start_trial accepted, so it is copied as approved; an incomplete one never was, and is copied as a draft. The
creation is logged as a status change by "migration 0005". Episodes with none of the four fields get no record. Going back copies the longest-lasting approved trial authorization back.
"""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
import uuid
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


LABEL = "migration 0005"


def copy_trial_authorizations(apps, schema_editor):
    Episode = apps.get_model("pathway", "Episode")
    PriorAuthorization = apps.get_model("pathway", "PriorAuthorization")
    AuthorizationStatusChange = apps.get_model("pathway", "AuthorizationStatusChange")
    now = timezone.now()
    on_file = Episode.objects.exclude(auth_payer="", auth_number="", auth_valid_from=None, auth_valid_to=None)
    for episode in on_file.iterator():
        complete = bool(episode.auth_number and episode.auth_valid_from and episode.auth_valid_to)
        authorization = PriorAuthorization.objects.create(
            episode=episode, step="trial", status="approved" if complete else "draft", payer=episode.auth_payer, number=episode.auth_number,
            valid_from=episode.auth_valid_from, valid_to=episode.auth_valid_to,
        )
        AuthorizationStatusChange.objects.create(authorization=authorization, from_status="",
                                                 to_status=authorization.status,
                                                 actor_label=LABEL, at=now)


def copy_back(apps, schema_editor):
    PriorAuthorization = apps.get_model("pathway", "PriorAuthorization")
    Episode = apps.get_model("pathway", "Episode")
    seen = set()
    approved = PriorAuthorization.objects.filter(step="trial", status="approved").order_by("episode_id", "-valid_to")
    for authorization in approved.iterator():
        if authorization.episode_id in seen:
            continue
        seen.add(authorization.episode_id)
        Episode.objects.filter(pk=authorization.episode_id).update(
            auth_payer=authorization.payer, auth_number=authorization.number,
            auth_valid_from=authorization.valid_from, auth_valid_to=authorization.valid_to,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('pathway', '0004_checklist_recorded_by_key'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='clinic',
            name='implant_authorization_required',
            field=models.BooleanField(default=True, help_text='record_implant needs an approved implant authorization valid on the implant date.'),
        ),
        migrations.CreateModel(
            name='PriorAuthorization',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True, db_index=True)),
                ('step', models.CharField(choices=[('trial', 'Trial'), ('implant', 'Permanent implant')], max_length=10)),
                ('payer', models.CharField(blank=True, max_length=120)),
                ('number', models.CharField(blank=True, max_length=60, verbose_name='authorization number')),
                ('submitted_on', models.DateField(blank=True, null=True)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('approved', 'Approved'), ('denied', 'Denied'), ('appeal', 'Under appeal'), ('expired', 'Expired')], db_index=True, default='draft', max_length=10)),
                ('valid_from', models.DateField(blank=True, null=True)),
                ('valid_to', models.DateField(blank=True, null=True)),
                ('units', models.PositiveIntegerField(blank=True, help_text='units or visits authorized, if the payer counts them', null=True)),
                ('notes', models.CharField(blank=True, max_length=1000)),
                ('episode', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='authorizations', to='pathway.episode')),
            ],
            options={
                'ordering': ['step', 'created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='AuthorizationStatusChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('from_status', models.CharField(blank=True, choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('approved', 'Approved'), ('denied', 'Denied'), ('appeal', 'Under appeal'), ('expired', 'Expired')], max_length=10)),
                ('to_status', models.CharField(choices=[('draft', 'Draft'), ('submitted', 'Submitted'), ('approved', 'Approved'), ('denied', 'Denied'), ('appeal', 'Under appeal'), ('expired', 'Expired')], max_length=10)),
                ('actor_label', models.CharField(max_length=150)),
                ('at', models.DateTimeField()),
                ('actor_api_key', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='api.clinicapikey')),
                ('actor_user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('authorization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='status_changes', to='pathway.priorauthorization')),
            ],
            options={
                'ordering': ['at', 'id'],
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='authorizationstatuschange',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='cc9e7a1de4a6151078d1b14cb4b0e9f6c9bd65d6', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_cb612', table='pathway_authorizationstatuschange', when='BEFORE')),
        ),
        migrations.RunPython(copy_trial_authorizations, copy_back),
        migrations.RemoveField(
            model_name='episode',
            name='auth_number',
        ),
        migrations.RemoveField(
            model_name='episode',
            name='auth_payer',
        ),
        migrations.RemoveField(
            model_name='episode',
            name='auth_valid_from',
        ),
        migrations.RemoveField(
            model_name='episode',
            name='auth_valid_to',
        ),
    ]
