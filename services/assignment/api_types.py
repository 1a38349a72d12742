"""Dates and instants the staff API accepts: inside the years the unit can plan for."""

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _day_in_range(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must lie between {EARLIEST} and {LATEST}")
    return day


def _instant_in_range(at: datetime) -> datetime:
    _day_in_range(at.date())  # the wall-clock date: converting year 1 to UTC could overflow
    return at


Day = Annotated[date, AfterValidator(_day_in_range)]
Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
