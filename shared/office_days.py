"""Swedish public holidays and the days treated as such: one calendar for every service.

Office days are Monday to Friday except these (DOMAIN.md §3). Computed for any Gregorian year
from the rules of the Public Holidays Act (lag (1989:253) om allmänna helgdagar): fixed dates,
Easter and the days that move with it, and the Saturdays of Midsummer and All Saints. The
services accept dates in 2000-2100; the calendar they are given runs a year further, so a
deadline counted from late 2100 still meets the holidays of 2101.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

HOLIDAY_YEARS = range(2000, 2102)
NATIONAL_DAY_SINCE = 2005  # it replaced Whit Monday as a public holiday (SFS 2004:1323)


def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm, any year)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * weekday_shift) // 433
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _weekday_between(first: date, weekday: int) -> date:
    """The day with `weekday` (Monday 0) in the seven days from `first`."""
    return first + timedelta(days=(weekday - first.weekday()) % 7)


@functools.cache
def holidays_in(year: int) -> frozenset[date]:
    """Sweden's public holidays of `year` plus Midsummer Eve, Christmas Eve and New Year's Eve,
    which are treated as such. Sundays are left out: they are never office days anyway."""
    easter = easter_sunday(year)
    midsummer_eve = _weekday_between(date(year, 6, 19), 4)  # the Friday from 19 to 25 June
    days = {
        date(year, 1, 1), date(year, 1, 6), date(year, 5, 1),
        easter - timedelta(days=2), easter, easter + timedelta(days=1),  # Good Friday, Easter Monday
        easter + timedelta(days=39), easter + timedelta(days=49),  # Ascension Day, Whitsunday
        midsummer_eve, midsummer_eve + timedelta(days=1),
        _weekday_between(date(year, 10, 31), 5),  # All Saints' Day: the Saturday from 31 Oct to 6 Nov
        date(year, 12, 24), date(year, 12, 25), date(year, 12, 26), date(year, 12, 31),
    }  # fmt: skip
    days.add(date(year, 6, 6) if year >= NATIONAL_DAY_SINCE else easter + timedelta(days=50))
    return frozenset(days)


@functools.cache
def swedish_holidays(years: range = HOLIDAY_YEARS) -> frozenset[date]:
    """The holidays (`holidays_in`) of every year in `years`, by default all the services plan for."""
    return frozenset(day for year in years for day in holidays_in(year))
