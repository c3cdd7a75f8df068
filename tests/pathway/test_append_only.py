"""The transition history, the audit trail and consent changes cannot be rewritten: PostgreSQL refuses it."""

import pytest
from django.db import InternalError, ProgrammingError, connection, transaction
from django.utils import timezone

from api.models import AuditEvent, ConsentChange
from pathway import services
from pathway.models import TransitionLog
from tests.factories import EpisodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REFUSED = (ProgrammingError, InternalError)  # PL/pgSQL RAISE, as psycopg reports it
REFUSAL = "Cannot update or delete rows"


@pytest.fixture
def rows(clinic, people):
    episode = EpisodeFactory(patient__clinic=clinic)
    services.episode_hold(episode=episode, actor=people["coordinator"], reason="insurance appeal")
    patient = episode.patient
    AuditEvent.objects.create(request_id="r" * 12, actor_label="cora", action="patients.get", method="GET",
                              path="/api/v1/patients/", status_code=200, patient_ids=[str(patient.external_id)])
    ConsentChange.objects.create(patient=patient, consent="sms", given=True, method="verbal", actor_label="cora",
                                 at=timezone.now())
    return {TransitionLog: TransitionLog.objects.get(episode=episode), AuditEvent: AuditEvent.objects.get(),
            ConsentChange: ConsentChange.objects.get()}


@pytest.mark.parametrize("model", [TransitionLog, AuditEvent, ConsentChange], ids=lambda m: m.__name__)
def test_a_queryset_update_is_refused(rows, model):
    with pytest.raises(REFUSED, match=REFUSAL), transaction.atomic():
        model.objects.filter(pk=rows[model].pk).update(actor_label="someone else")
    assert model.objects.get(pk=rows[model].pk).actor_label == rows[model].actor_label


@pytest.mark.parametrize("model", [TransitionLog, AuditEvent, ConsentChange], ids=lambda m: m.__name__)
def test_a_queryset_delete_is_refused(rows, model):
    with pytest.raises(REFUSED, match=REFUSAL), transaction.atomic():
        model.objects.filter(pk=rows[model].pk).delete()
    assert model.objects.filter(pk=rows[model].pk).exists()


@pytest.mark.parametrize("model", [TransitionLog, AuditEvent, ConsentChange], ids=lambda m: m.__name__)
def test_plain_sql_cannot_rewrite_or_delete(rows, model):
    table = model._meta.db_table
    for statement in (f"UPDATE {table} SET actor_label = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(REFUSED, match=REFUSAL), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [rows[model].pk])
    assert model.objects.get(pk=rows[model].pk).actor_label == rows[model].actor_label


def test_new_rows_are_still_written(rows, people):
    episode = rows[TransitionLog].episode
    services.episode_release(episode=episode, actor=people["coordinator"])
    assert TransitionLog.objects.filter(episode=episode).count() == 2
