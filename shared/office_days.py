"""Swedish public holidays and the days treated as such: one calendar for every service.

Office days are Monday to Friday except these (DOMAIN.md §3). The years cover every date the
services accept (2000-2100), so no deadline, rotation or office-hours check falls off the end.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays

HOLIDAY_YEARS = range(2000, 2101)


@functools.cache
def swedish_holidays(years: range = HOLIDAY_YEARS) -> frozenset[date]:
    """Swedish public holidays plus Midsummer Eve, Christmas Eve and New Year's Eve."""
    days = set(holidays.country_holidays("SE", years=list(years)).keys())
    for year in years:
        days.add(date(year, 12, 24))
        days.add(date(year, 12, 31))
        # Midsummer Eve is the Friday between 19 and 25 June.
        june19 = date(year, 6, 19)
        days.add(june19 + timedelta(days=(4 - june19.weekday()) % 7))
    return frozenset(days)
