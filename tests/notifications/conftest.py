import pytest

from notifications.channels import sms
from pathway.stages import Role
from tests.factories import ClinicFactory, PatientFactory, actor


@pytest.fixture(autouse=True)
def notification_settings(settings):
    """Sends land in the in-memory SMS outbox and Django's locmem mail outbox; Twilio is configured."""
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "SMS_BACKEND": "in-memory",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "test-auth-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_WEBHOOK_URL": "",
        "PUBLIC_BASE_URL": "https://clinic.example.org",
    }
    sms.outbox.clear()
    yield settings.NOTIFICATIONS
    sms.outbox.clear()


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north", name="North Pain Clinic", time_zone="America/Chicago", phone="+15550100100")


@pytest.fixture
def front_desk(clinic):
    return actor(clinic, Role.FRONT_DESK)


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, phone="+15557654321", email="pat@example.org", sms_consent=True,
                          email_consent=True, diary_consent=True, preferred_channel="sms")
