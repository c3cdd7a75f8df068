"""Reading HL7 v2.5.1 SIU and ADT messages (parsed by the `hl7` library) into what the services take.

Nothing here writes. A field that is missing or cannot be read raises `MappingProblem` with a reason an
interface analyst can act on; the reason names the field (PID-3, AIS-4 …), never its value, because the value
may be patient data and the reason is stored, listed and sent back in the ACK.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import hl7
from hl7.datatypes import parse_datetime

from pathway.models import Clinic
from pathway.stages import AppointmentKind

SUPPORTED = {
    ("SIU", "S12"): "book",
    ("SIU", "S13"): "reschedule",
    ("SIU", "S14"): "modify",
    ("SIU", "S15"): "cancel",
    ("SIU", "S26"): "no_show",
    ("ADT", "A04"): "register",
    ("ADT", "A08"): "update_patient",
}

# HL7 "" (two double quotes) means "delete the value the receiver holds" (v2.5.1 2.5.3).
HL7_NULL = '""'
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DURATION_MINUTES = {"": 1, "MIN": 1, "M": 1, "H": 60, "HR": 60, "HOUR": 60, "S": 1 / 60, "SEC": 1 / 60}


class MappingProblem(Exception):
    """The message is well formed but cannot be applied as it stands (kept as needs attention, answered AE)."""


class Unreadable(Exception):
    """The message cannot be taken at all: not HL7, no control id, a type we do not take (answered AR)."""


def field(message: hl7.Message, key: str) -> str:
    """The (unescaped) value at `key` ("PID.F3.R1.C1"), or "" when the segment or field is absent."""
    try:
        return str(message[key]).strip()
    except (KeyError, IndexError):
        return ""


@dataclass(frozen=True)
class Header:
    sending_application: str
    sending_facility: str
    receiving_facility: str
    control_id: str
    message_code: str
    trigger_event: str

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code

    @property
    def action(self) -> str | None:
        return SUPPORTED.get((self.message_code, self.trigger_event))


def parse(raw: str) -> hl7.Message:
    # MLLP frames may carry \n or \r\n line ends from some engines; HL7 separates segments with \r.
    text = raw.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text.startswith("MSH"):
        raise Unreadable("Not an HL7 v2 message: it must begin with an MSH segment.")
    try:
        return hl7.parse(text)
    except Exception as exc:  # the library raises several types for malformed input
        raise Unreadable(f"The message could not be parsed as HL7 v2 ({type(exc).__name__}).") from None


def header(message: hl7.Message) -> Header:
    return Header(
        sending_application=field(message, "MSH.F3.R1.C1"),
        sending_facility=field(message, "MSH.F4"),
        receiving_facility=field(message, "MSH.F6"),
        control_id=field(message, "MSH.F10"),
        message_code=field(message, "MSH.F9.R1.C1").upper(),
        trigger_event=field(message, "MSH.F9.R1.C2").upper(),
    )


def clinic_for(head: Header) -> Clinic | None:
    """MSH-6 (its namespace id, HD.1) is the clinic's slug: the interface engine addresses each clinic by name."""
    slug = head.receiving_facility.split("^", 1)[0].strip().lower()
    return Clinic.objects.filter(slug=slug).first() if slug else None


# --- Patients -------------------------------------------------------------------------------------


def repetitions(message: hl7.Message, key: str) -> list[int]:
    """The repetition numbers present in a field ("PID.F3"): the library raises IndexError past the last."""
    present = []
    for number in range(1, 21):
        try:
            message[f"{key}.R{number}.C1"]
        except (KeyError, IndexError):
            break
        present.append(number)
    return present


def mrn(message: hl7.Message) -> str:
    """PID-3: the repetition whose identifier type (CX.5) is MR, else the first that has an id."""
    values = [(field(message, f"PID.F3.R{r}.C1"), field(message, f"PID.F3.R{r}.C5").upper())
              for r in repetitions(message, "PID.F3")]
    chosen = next((value for value, kind in values if kind == "MR" and value), None)
    chosen = chosen or next((value for value, _ in values if value), "")
    if not chosen:
        raise MappingProblem("PID-3 (patient identifier list) has no MRN.")
    if len(chosen) > 40:
        raise MappingProblem("PID-3 (MRN) is longer than 40 characters.")
    return chosen


def demographics(message: hl7.Message, *, complete: bool) -> dict:
    """PID-5 name, PID-7 birth date, PID-13 phone/email. `complete`: a registration must give name and birth
    date; an update (A08) changes only what it sends, and HL7's "" clears a phone or email."""
    values: dict = {}
    family, given = field(message, "PID.F5.R1.C1"), field(message, "PID.F5.R1.C2")
    if family and given:
        values["family_name"], values["given_name"] = family, given
    elif complete or family or given:
        raise MappingProblem("PID-5 (patient name) needs both family name and given name.")
    birth = field(message, "PID.F7.R1.C1") or field(message, "PID.F7")
    if birth:
        try:
            values["birth_date"] = dt.datetime.strptime(birth[:8], "%Y%m%d").date()
        except ValueError:
            raise MappingProblem("PID-7 (date of birth) is not a date (YYYYMMDD).") from None
    elif complete:
        raise MappingProblem("PID-7 (date of birth) is missing.")
    values.update(_telecom(message))
    return values


def _telecom(message: hl7.Message) -> dict:
    """PID-13 (XTN): an e-mail where XTN.2 is NET or XTN.4 holds one; else a phone from XTN.12 or XTN.1."""
    if field(message, "PID.F13") == HL7_NULL:
        return {"phone": "", "email": ""}
    found: dict = {}
    for r in repetitions(message, "PID.F13"):
        def part(n, r=r):
            return field(message, f"PID.F13.R{r}.C{n}")

        if part(2).upper() == "NET" or part(3).upper() == "INTERNET" or part(4):
            if part(4):
                found.setdefault("email", part(4))
            continue
        number = re.sub(r"[\s().-]", "", part(12) or part(1))
        if not number:
            continue
        if not E164.match(number):
            raise MappingProblem("PID-13 (phone) is not in E.164 form (+15551234567) in XTN.12 or XTN.1.")
        found.setdefault("phone", number)
    return found


# --- Appointments ---------------------------------------------------------------------------------


def appointment_ref(message: hl7.Message) -> str:
    """SCH-2 filler appointment id (the scheduling system's own), else SCH-1 placer appointment id."""
    ref = field(message, "SCH.F2.R1.C1") or field(message, "SCH.F1.R1.C1")
    if not ref:
        raise MappingProblem("SCH-2 (filler appointment ID) or SCH-1 (placer appointment ID) is needed.")
    if len(ref) > 100:
        raise MappingProblem("SCH-2 (appointment ID) is longer than 100 characters.")
    return ref


def moment(value: str, *, clinic: Clinic, name: str) -> dt.datetime:
    """A TS/DTM: with its offset when it has one; without, in the clinic's own zone (HL7 v2.5.1 2.A.22: no
    offset means the sender's local time, and the sender is the clinic's system)."""
    digits = value.split("^", 1)[0]
    if len(re.sub(r"[+-].*$", "", digits).split(".")[0]) < 12:
        raise MappingProblem(f"{name} needs the time to the minute (YYYYMMDDHHMM[SS][+/-ZZZZ]).")
    try:
        parsed = parse_datetime(digits)
    except (ValueError, TypeError):
        raise MappingProblem(f"{name} is not an HL7 date/time (YYYYMMDDHHMM[SS][+/-ZZZZ]).") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(clinic.time_zone))
    else:
        parsed = parsed.replace(tzinfo=dt.timezone(parsed.utcoffset()))
    return parsed


def window(message: hl7.Message, *, clinic: Clinic) -> tuple[dt.datetime, dt.datetime]:
    """Start: AIS-4 (v2.5.1), else SCH-11.4 (TQ, kept for older senders). End: SCH-11.5, else start + AIS-7
    duration (AIS-8 units, minutes by default), else start + SCH-9 (SCH-10 units)."""
    ais_start, tq_start = field(message, "AIS.F4.R1.C1"), field(message, "SCH.F11.R1.C4")
    if not (ais_start or tq_start):
        raise MappingProblem("AIS-4 (start date/time) or SCH-11.4 is needed.")
    starts_at = moment(ais_start or tq_start, clinic=clinic, name="AIS-4" if ais_start else "SCH-11.4")
    if tq_end := field(message, "SCH.F11.R1.C5"):
        return starts_at, moment(tq_end, clinic=clinic, name="SCH-11.5")
    for duration_key, units_key, name in (("AIS.F7", "AIS.F8.R1.C1", "AIS-7"), ("SCH.F9", "SCH.F10.R1.C1", "SCH-9")):
        if duration := field(message, duration_key):
            units = field(message, units_key).upper()
            if units not in DURATION_MINUTES:
                raise MappingProblem(f"{name}'s units are not minutes or hours.")
            try:
                minutes = float(duration) * DURATION_MINUTES[units]
            except ValueError:
                raise MappingProblem(f"{name} (duration) is not a number.") from None
            if minutes <= 0:
                raise MappingProblem(f"{name} (duration) must be more than zero.")
            return starts_at, starts_at + dt.timedelta(minutes=minutes)
    raise MappingProblem("Give the end: SCH-11.5, or a duration in AIS-7 or SCH-9.")


def kind(message: hl7.Message, *, kind_codes: dict) -> str:
    """The sender's code in AIS-3 (universal service id), else SCH-7 (appointment reason), else SCH-8
    (appointment type), through the clinic's kind_codes; a code that is already one of our kinds passes."""
    codes = [field(message, key) for key in ("AIS.F3.R1.C1", "SCH.F7.R1.C1", "SCH.F8.R1.C1")]
    codes = [code for code in codes if code]
    if not codes:
        raise MappingProblem("AIS-3, SCH-7 or SCH-8 must name the kind of appointment.")
    for code in codes:
        if code in kind_codes:
            return kind_codes[code]
        if code.lower() in AppointmentKind.values:
            return code.lower()
    raise MappingProblem("The appointment's code (AIS-3/SCH-7/SCH-8) is not in this clinic's kind mapping; "
                         "add it to the clinic's HL7 feed settings.")


def event_reason(message: hl7.Message) -> str:
    """SCH-6 event reason (its text, else its code)."""
    return field(message, "SCH.F6.R1.C2") or field(message, "SCH.F6.R1.C1")
