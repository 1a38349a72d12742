"""More properties of personal identity number parsing (complements test_personal_numbers.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_router.synthetic_data import check_digit, personal_number
from services.intake.domain.personal_numbers import InvalidPersonalNumber, luhn_ok, normalise_personal_number

TODAY = date(2026, 11, 22)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
seeds = st.randoms(use_true_random=False)
number_like = st.from_regex(r"\A\s?(\d{2})?\d{6}[-+]?\d{4}\s?\Z")


@given(st.one_of(st.text(max_size=20), number_like))
def test_any_text_either_normalises_to_twelve_valid_digits_or_is_rejected_with_a_reason(text):
    try:
        number = normalise_personal_number(text, TODAY)
    except InvalidPersonalNumber:
        return
    assert len(number) == 12 and number.isdigit() and luhn_ok(number[2:])
    assert number[8:11] != "000"


@given(births, st.booleans(), seeds)
def test_the_twelve_digit_form_with_or_without_a_dash_gives_the_same_number(born, coordination, rng):
    number = personal_number(born, rng, coordination=coordination)
    assert normalise_personal_number(f"{number[:8]}-{number[8:]}", TODAY) == number


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(1926, 11, 22)), seeds)
def test_a_ten_digit_number_with_plus_belongs_to_someone_at_least_a_hundred_years_old(born, rng):
    number = personal_number(born, rng)
    assert normalise_personal_number(f"{number[2:8]}+{number[8:]}", TODAY) == number


@given(births, st.booleans())
def test_birth_number_000_is_rejected_even_when_the_check_digit_fits(born, coordination):
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}000"
    with pytest.raises(InvalidPersonalNumber, match="000"):
        normalise_personal_number(nine + str(check_digit(nine)), TODAY)


@given(st.dates(min_value=date(1930, 1, 1), max_value=TODAY), seeds)
def test_a_ten_digit_coordination_number_keeps_its_day_plus_sixty_in_the_stored_form(born, rng):
    number = personal_number(born, rng, coordination=True)
    stored = normalise_personal_number(number[2:], TODAY)
    assert stored == number and int(stored[6:8]) == born.day + 60


@given(st.integers(1, 12), st.one_of(st.integers(32, 60), st.integers(92, 99)), st.integers(980, 999))
def test_a_day_that_is_neither_a_date_nor_a_coordination_day_is_rejected(month, day, serial):
    nine = f"10{month:02d}{day:02d}{serial}"
    text = nine + str(check_digit(nine))
    with pytest.raises(InvalidPersonalNumber, match="calendar date"):
        normalise_personal_number(text, TODAY)


# Issue 24: digits of other scripts passed as a personal identity number and gave the same child a
# different key (continuity lost); a birth date in the future passed.
DIGIT_SETS = {
    "full-width": "０１２３４５６７８９",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "devanagari": "०१२३४५६७८९",
    "mathematical": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
}


@given(births, st.booleans(), seeds, st.sampled_from(sorted(DIGIT_SETS)), st.booleans())
def test_a_number_in_other_digits_is_the_same_number_or_refused_never_another(
    born, coordination, rng, script, twelve
):
    number = personal_number(born, rng, coordination=coordination)
    centenarian = born <= TODAY.replace(year=TODAY.year - 100)
    text = number if twelve else f"{number[2:8]}{'+' if centenarian else '-'}{number[8:]}"
    foreign = text.translate(str.maketrans("0123456789", DIGIT_SETS[script]))
    try:
        stored = normalise_personal_number(foreign, TODAY)
    except InvalidPersonalNumber:
        return
    assert stored == number and stored.isascii()


@pytest.mark.parametrize("script", ["arabic-indic", "devanagari"])
def test_digits_that_are_not_ascii_after_nfkc_are_refused(script):
    foreign = "198211059954".translate(str.maketrans("0123456789", DIGIT_SETS[script]))
    with pytest.raises(InvalidPersonalNumber, match="digits 0-9"):
        normalise_personal_number(foreign, TODAY)


def test_full_width_digits_are_read_as_the_digits_they_are():
    full_width = "198211059954".translate(str.maketrans("0123456789", DIGIT_SETS["full-width"]))
    assert normalise_personal_number(full_width, TODAY) == "198211059954"


@given(
    st.dates(min_value=TODAY.replace(day=TODAY.day + 1), max_value=date(2099, 12, 31)), seeds, st.booleans()
)
def test_a_twelve_digit_number_born_after_today_is_refused(born, rng, coordination):
    number = personal_number(born, rng, coordination=coordination)
    with pytest.raises(InvalidPersonalNumber, match="future"):
        normalise_personal_number(number, TODAY)


@given(st.dates(min_value=date(1926, 11, 23), max_value=date(1926, 12, 31)), seeds)
def test_a_ten_digit_number_whose_date_is_later_this_year_belongs_to_the_last_century(born, rng):
    number = personal_number(born, rng)
    assert normalise_personal_number(f"{number[2:8]}-{number[8:]}", TODAY) == number
