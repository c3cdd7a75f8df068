"""Times are stored in UTC; a clinic's dates (today, days in stage, milestone windows) are in its own zone."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone


def clinic_zone(clinic) -> ZoneInfo:
    return ZoneInfo(clinic.time_zone)


def clinic_today(clinic, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(clinic_zone(clinic)).date()


def local_date(clinic, moment: datetime) -> date:
    return moment.astimezone(clinic_zone(clinic)).date()


def start_of_day(clinic, day: date) -> datetime:
    """The first moment of `day` in the clinic's zone."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone(clinic))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
