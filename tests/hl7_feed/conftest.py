"""An interface engine's messages to the North clinic (slug "north", Chicago), built as the engine sends them."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from pathway.clinic_time import clinic_today
from tests.factories import ClinicFactory, PatientFactory

CHICAGO = ZoneInfo("America/Chicago")
_ids = itertools.count(1)


@pytest.fixture
def clinic(db):
    return ClinicFactory(slug="north", name="North Pain Clinic", time_zone="America/Chicago")


@pytest.fixture
def patient(clinic):
    return PatientFactory(clinic=clinic, mrn="MRN1001", given_name="Ana", family_name="Lopez")


@pytest.fixture
def day(clinic) -> dt.date:
    """A week ahead in the clinic's calendar, whatever day the suite runs."""
    return clinic_today(clinic) + dt.timedelta(days=7)


def ts(day: dt.date, hhmm: str, offset: str = "") -> str:
    return f"{day:%Y%m%d}{hhmm}00{offset}"


def local(day: dt.date, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(int(hhmm[:2]), int(hhmm[2:])), tzinfo=CHICAGO)


def msh(event: str, control_id: str | None = None, facility: str = "north") -> str:
    code, trigger = event.split("^")
    control_id = control_id if control_id is not None else f"MSG{next(_ids):05d}"
    return (f"MSH|^~\\&|EPICCADENCE|NORTHEHR|DRG-PATHWAY|{facility}|20261203080000-0600||{code}^{trigger}^"
            f"{code}_{trigger if code == 'ADT' else 'S12'}|{control_id}|P|2.5.1")


def siu(event: str, *, ref: str = "APT-1", mrn: str = "MRN1001", start: str = "", minutes: int = 30,
        code: str = "consultation", reason: str = "", control_id: str | None = None, facility: str = "north") -> str:
    segments = [
        msh(f"SIU^{event}", control_id, facility),
        f"SCH|PL-{ref}^EHR|{ref}^CADENCE||||{reason}|{code}^Visit^L|||||||||||||||||BOOKED",
        f"PID|1||{mrn}^^^NORTH^MR||Lopez^Ana||19640212|F",
        "RGS|1|A",
        f"AIS|1|A|{code}^Visit^L|{start}|||{minutes}|min",
    ]
    return "\r".join(segments)


def adt(event: str, *, mrn: str = "MRN2002", family: str = "Nguyen", given: str = "Bao", birth: str = "19580630",
        telecom: str = "^PRN^PH^^^^^^^^^+15551230001~^NET^Internet^bao@example.org",
        control_id: str | None = None) -> str:
    return "\r".join([
        msh(f"ADT^{event}", control_id),
        f"EVN|{event}|20261203080000-0600",
        f"PID|1||{mrn}^^^NORTH^MR||{family}^{given}||{birth}|M|||||{telecom}",
        "PV1|1|O",
    ])
