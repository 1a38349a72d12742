"""Sweden's holidays (shared/office_days.py), computed for any year: known dates far apart, and
the same calendar as the independent `holidays` package over every year that package covers."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from shared.office_days import HOLIDAY_YEARS, easter_sunday, holidays_in, swedish_holidays

# Easter Sunday, Midsummer Eve, Midsummer Day and All Saints' Day, from published calendars.
KNOWN = {
    2026: (date(2026, 4, 5), date(2026, 6, 19), date(2026, 6, 20), date(2026, 10, 31)),
    2041: (date(2041, 4, 21), date(2041, 6, 21), date(2041, 6, 22), date(2041, 11, 2)),
    2100: (date(2100, 3, 28), date(2100, 6, 25), date(2100, 6, 26), date(2100, 11, 6)),
}


@pytest.mark.parametrize("year", sorted(KNOWN))
def test_easter_midsummer_and_all_saints_fall_on_their_known_dates(year):
    easter, midsummer_eve, midsummer, all_saints = KNOWN[year]
    assert easter_sunday(year) == easter
    assert {midsummer_eve, midsummer, all_saints} <= holidays_in(year)
    assert easter in holidays_in(year)


def test_the_days_around_easter_2026():
    days = holidays_in(2026)
    # Good Friday, Easter Monday, Ascension Day, Whitsunday; Maundy Thursday and the Tuesday are not.
    assert {date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 24)} <= days
    assert date(2026, 4, 2) not in days and date(2026, 4, 7) not in days


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (1818, date(1818, 3, 22)),
        (1943, date(1943, 4, 25)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter_is_right_at_the_extremes_and_beyond_the_years_planned_for(year, easter):
    assert easter_sunday(year) == easter  # 22 March and 25 April are the earliest and latest possible


def test_the_eves_treated_as_holidays_are_included_every_year():
    for year in (2026, 2101, 2350):
        assert {date(year, 12, 24), date(year, 12, 31), date(year, 1, 6), date(year, 6, 6)} <= holidays_in(
            year
        )


def test_whit_monday_was_a_holiday_until_national_day_replaced_it_in_2005():
    assert date(2004, 5, 31) in holidays_in(2004) and date(2004, 6, 6) not in holidays_in(2004)
    assert date(2005, 5, 16) not in holidays_in(2005) and date(2005, 6, 6) in holidays_in(2005)


def test_the_calendar_equals_the_holidays_package_in_every_year_it_covers():
    reference = holidays.country_holidays("SE", years=list(range(2000, 2101)))
    for year in range(2000, 2101):
        theirs = {d for d in reference if d.year == year}
        theirs |= {date(year, 12, 24), date(year, 12, 31), _midsummer_eve(year)}
        theirs = {d for d in theirs if d.weekday() != 6}  # it lists every Sunday as a holiday
        ours = {d for d in holidays_in(year) if d.weekday() != 6}
        assert ours == theirs, year


def _midsummer_eve(year: int) -> date:
    return next(date(year, 6, d) for d in range(19, 26) if date(year, 6, d).weekday() == 4)


def test_the_services_calendar_runs_a_year_past_the_last_accepted_date():
    calendar = swedish_holidays()
    assert HOLIDAY_YEARS[0] == 2000 and HOLIDAY_YEARS[-1] == 2101
    assert date(2101, 12, 25) in calendar and easter_sunday(2101) in calendar
    assert date(1999, 12, 25) not in calendar
