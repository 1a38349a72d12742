from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_router.synthetic_data import personal_number
from services.intake.domain.personal_numbers import InvalidPersonalNumber, luhn_ok, normalise_personal_number

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("given_number", "expected"),
    [
        ("8211059954", "198211059954"),
        ("9012119948", "199012119948"),
        ("090527+1474", "190905271474"),
        ("5705749959", "195705749959"),
        ("821105-9954", "198211059954"),
        ("198211059954", "198211059954"),
        ("19821105-9954", "198211059954"),
    ],
)
def test_valid_numbers_from_the_domain_description_are_stored_in_12_digit_form(given_number, expected):
    assert normalise_personal_number(given_number, TODAY) == expected


@pytest.mark.parametrize(
    ("given_number", "reason"),
    [
        ("8707049996", "check digit"),
        ("1509160006", "000"),
        ("821305-9954", "check digit"),
        ("123", "10 or 12 digits"),
        ("19821105+9954", "only used with 10 digits"),
    ],
)
def test_invalid_numbers_are_rejected_with_the_reason(given_number, reason):
    with pytest.raises(InvalidPersonalNumber, match=reason):
        normalise_personal_number(given_number, TODAY)


def test_a_number_whose_date_does_not_exist_is_rejected_even_with_a_matching_check_digit():
    nine = "820230123"  # 30 February
    from referral_router.synthetic_data import check_digit

    with pytest.raises(InvalidPersonalNumber, match="calendar date"):
        normalise_personal_number(nine + str(check_digit(nine)), TODAY)


birth_dates = st.dates(min_value=date(1927, 1, 1), max_value=TODAY)


@given(birth_dates, st.booleans(), st.randoms(use_true_random=False))
def test_every_generated_number_normalises_to_itself(born, coordination, rng):
    number = personal_number(born, rng, coordination=coordination)
    assert normalise_personal_number(number, TODAY) == number
    assert luhn_ok(number[2:])


@given(birth_dates, st.randoms(use_true_random=False), st.integers(0, 9), st.integers(1, 9))
def test_changing_any_single_digit_of_a_valid_number_is_caught(born, rng, position, delta):
    number = personal_number(born, rng)[2:]
    digit = (int(number[position]) + delta) % 10
    altered = number[:position] + str(digit) + number[position + 1 :]
    assert not luhn_ok(altered)


@given(
    st.dates(min_value=TODAY - timedelta(days=99 * 365), max_value=TODAY), st.randoms(use_true_random=False)
)
def test_ten_digit_form_with_dash_gets_the_century_of_someone_under_100(born, rng):
    number = personal_number(born, rng)
    ten = f"{number[2:8]}-{number[8:]}"
    assert normalise_personal_number(ten, TODAY) == number


def test_synthetic_submissions_are_mostly_different_families():
    import random

    from referral_router.synthetic_data import submission

    rng = random.Random(3)
    guardians = [submission(rng)["guardians"][0]["personal_number"] for _ in range(2000)]
    assert len(set(guardians)) > 1950  # a fixed birth date gave 20 families for any number of referrals
