"""The printable dossier (services/intake/adapters/dossier_print.py): a synthetic dossier (invented
names, generated personal numbers) in the shape the dossier use case answers
(services/intake/domain/dossier.py; the shape is pinned below), rendered to PDF and read back with pypdf."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from referral_router.synthetic_data import personal_number
from services.intake.adapters.dossier_print import PrintFontMissing, print_dossier, render_dossier_pdf
from services.intake.domain.dossier import Projection, ReferralFacts, Registration, Tracked
from services.intake.domain.dossier import dossier as answer
from services.intake.domain.dossier_access import Assignment
from services.intake.domain.submissions import DocumentInfo

RNG = random.Random(19)
CHILD_NUMBER = personal_number(date(2015, 3, 2), RNG)
GUARDIAN_NUMBER = personal_number(date(1984, 7, 21), RNG)
HIDDEN_NUMBER = personal_number(date(1986, 1, 9), RNG)
PRINTED_AT = datetime(2026, 11, 23, 13, 5, tzinfo=UTC)


def dossier(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "referral_id": "R-7Q2K9M3XH4TB",
        "reference": "S-4KX9P2",
        "received_at": "2026-11-20T23:41:07+01:00",
        "kind": "report",
        "channel": "e_service",
        "child": {
            "name": "Zoë Łukasz Đặng",
            "personal_number": CHILD_NUMBER,
            "birth_date": "2015-03-02",
            "sex": "girl",
            "school": "Ängsskolan",
            "protected_identity": False,
        },
        "guardians": [
            {"name": "Åsa Öberg", "personal_number": GUARDIAN_NUMBER, "informed": False},
            {"name": "Bertil Hemlig", "personal_number": HIDDEN_NUMBER, "informed": True},
        ],
        "reporter": {
            "type": "school",
            "anonymous": False,
            "name": "Karin Lärare",
            "organisation": "Ängsskolan",
            "role": "Mentor",
            "phone": "070-000 00 19",
            "email": "karin@example.se",
            "feedback_requested": True,
        },
        "concern": {
            "categories": ["violence_witnessed", "neglect"],
            "description": "Barnet berättar om bråk hemma. " * 60,
            "acute_danger": False,
            "child_location": "I skolan",
            "interpreter_language": "arabiska",
        },
        "sibling_referral_ids": ["R-9ZZ81K", "R-9ZZ82K"],
        "attachments": [
            {
                "n": 1,
                "name": "Originaldokument (Open ePlatform).xml",
                "file_name": None,
                "media_type": "application/xml",
                "size": 48213,
            }
        ],
        "assignment": {
            "team": "team-a",
            "caseworker": "cw-a1",
            "mentor": "cw-a2",
            "status": "assigned",
            "protection_assessed": False,
        },
        "deadlines": {
            "protection_assessment_due": "2026-11-23T11:00:00+00:00",
            "preliminary_assessment_due": None,
            "investigation_due": None,
            "feedback_due": None,
        },
        "registration": {
            "system_case_number": "IFO-2026-1234",
            "registered_at": "2026-11-23T09:12:00+00:00",
            "registered_by": "in-2",
        },
        "masked": ["guardians.1", "reporter.phone"],
    }
    d.update(changes)
    return d


def text_of(pdf: bytes) -> tuple[str, list[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    pages = [page.extract_text() for page in reader.pages]
    return "\n".join(pages), pages


def squashed(text: str) -> str:
    return "".join(text.split())


def test_the_dossier_prints_every_section_in_swedish_with_names_as_written() -> None:
    pdf = render_dossier_pdf(dossier(), "in-3", PRINTED_AT)

    assert pdf.startswith(b"%PDF-")
    text, _ = text_of(pdf)
    for heading in ("Orosanmälan", "Barn", "Vårdnadshavare", "Anmälare", "Oro", "Syskon", "Bilagor"):
        assert heading in text
    flat = squashed(text)
    for shown in (
        "Zoë Łukasz Đặng", "Åsa Öberg", "Ängsskolan", "Karin Lärare", "karin@example.se",
        f"{CHILD_NUMBER[:8]}-{CHILD_NUMBER[8:]}", f"{GUARDIAN_NUMBER[:8]}-{GUARDIAN_NUMBER[8:]}",
        "Bevittnat våld", "Försummelse", "Skola", "arabiska", "R-9ZZ81K", "Originaldokument", "IFO-2026-1234",
        "2026-11-20 23:41", "Skyddsbedömning", "2026-11-23 12:00", "E-tjänst", "cw-a1", "Kön", "Flicka",
    ):  # fmt: skip
        assert squashed(shown) in flat, shown


def test_masked_fields_are_shown_as_protected_and_their_values_never_printed() -> None:
    pdf = render_dossier_pdf(dossier(), "in-3", PRINTED_AT)

    text, _ = text_of(pdf)
    flat = squashed(text)
    assert squashed("Skyddad – visas inte") in flat
    assert "Hemlig" not in flat
    assert HIDDEN_NUMBER[8:] not in flat
    assert "070-00000" not in flat
    # Nothing of them hides in the file's raw bytes or metadata either.
    assert b"Hemlig" not in pdf
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None
    assert reader.metadata.title == "Orosanmälan S-4KX9P2"


def test_every_page_has_the_footer_with_reference_printer_time_secrecy_and_page_number() -> None:
    pdf = render_dossier_pdf(dossier(), "in-3", PRINTED_AT)

    _, pages = text_of(pdf)
    assert len(pages) >= 2  # the long description runs over
    for n, page in enumerate(pages, start=1):
        flat = squashed(page)
        assert squashed("S-4KX9P2 · Utskriven av in-3 2026-11-23 14:05") in flat
        assert squashed("Sekretess enligt OSL 26 kap. 1 §") in flat
        assert squashed(f"Sida {n} av {len(pages)}") in flat


def test_an_application_without_registration_guardians_or_attachments_prints_too() -> None:
    pdf = render_dossier_pdf(
        dossier(kind="application", registration=None, guardians=[], attachments=[], masked=[]),
        "mgr-a",
        PRINTED_AT,
    )

    flat = squashed(text_of(pdf)[0])
    assert squashed("Ansökan") in flat
    assert squashed("Inte registrerad") in flat
    assert squashed("Skyddad – visas inte") not in flat


def test_a_whole_section_can_be_masked() -> None:
    flat = squashed(text_of(render_dossier_pdf(dossier(masked=["child"]), "in-3", PRINTED_AT))[0])
    assert "Zoë" not in flat
    assert CHILD_NUMBER[8:] not in flat
    # Every child field: name, number, birth date, sex, school, protected identity.
    assert flat.count(squashed("Skyddad – visas inte")) == 6


def test_a_missing_font_is_named_with_its_debian_package(tmp_path: Path) -> None:
    with pytest.raises(PrintFontMissing, match="fonts-dejavu-core"):
        render_dossier_pdf(dossier(), "in-3", PRINTED_AT, font_dir=tmp_path)


async def test_printing_from_the_event_loop_gives_the_same_document() -> None:
    printed = await print_dossier(dossier(), "in-3", PRINTED_AT)
    assert text_of(printed)[0] == text_of(render_dossier_pdf(dossier(), "in-3", PRINTED_AT))[0]


def test_the_sample_has_the_shape_the_dossier_use_case_answers() -> None:
    """The printer reads the dossier's keys by name: a key renamed in domain/dossier.py shows here."""
    facts = ReferralFacts("R-1", "S-1", 0, "ck", "fk", PRINTED_AT, True, ("R-2",))
    projection = Projection(Assignment("team-a", "cw-a1", None), "assigned", False)
    registration = Registration("IFO-1", PRINTED_AT, "in-2", PRINTED_AT)
    sample = dossier()
    form = {
        "kind": "report", "channel": "e_service", "children": [sample["child"]],
        "guardians": sample["guardians"], "reporter": sample["reporter"], "concern": sample["concern"],
    }  # fmt: skip
    attachments = [DocumentInfo(1, "Originaldokument (Open ePlatform).xml", "application/xml", 48213)]
    tracked = Tracked(facts, projection, registration, None)
    real = answer(form, tracked, revealed=False, attachments=attachments)

    assert set(real) == set(sample)
    for section in ("assignment", "deadlines", "registration"):
        assert set(real[section]) == set(sample[section]), section
    assert real["attachments"] == sample["attachments"]
    assert set(real["masked"]) == {"child.school", "concern.child_location", "reporter.organisation"}


def test_a_protected_childs_school_is_printed_nowhere_not_even_as_the_reporters_organisation() -> None:
    facts = ReferralFacts("R-1", "S-1", 0, "ck", "fk", PRINTED_AT, True, ())
    sample = dossier()
    form = {
        "kind": "report", "channel": "e_service", "children": [sample["child"]],
        "guardians": sample["guardians"], "reporter": sample["reporter"], "concern": sample["concern"],
    }  # fmt: skip
    masked = answer(form, Tracked(facts, None, None, None), revealed=False)
    masked["reporter"]["organisation"] = "Ängsskolan"  # a value that came with a masked path anyway

    flat = squashed(text_of(render_dossier_pdf(masked, "in-3", PRINTED_AT))[0])

    assert "Ängsskolan" not in flat
    assert "Karin" in flat  # the rest of the reporter is printed
    assert flat.count(squashed("Skyddad – visas inte")) == 3
