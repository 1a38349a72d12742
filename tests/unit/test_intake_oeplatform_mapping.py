"""FlowInstance XML and the configurable tag mapping, on the synthetic fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.adapters.oep_mapping import UnmappableInstance, load_mapping, read_form, to_submission
from services.intake.adapters.oep_xml import UnreadableInstance, parse_flow_instance, parse_instance_list
from services.intake.domain.open_eplatform import InstanceRejected
from services.intake.schemas import Submission, validation_context

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "oeplatform"
MAPPING = load_mapping(REPO / "deploy" / "config" / "oeplatform.orosanmalan.yaml")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def instance(number: int):
    return parse_flow_instance((FIXTURES / f"{number}.xml").read_bytes())


def mapped(number: int) -> Submission:
    body = to_submission(instance(number), MAPPING)
    return Submission.model_validate(body, context=validation_context(NOW))


def test_the_header_is_read_and_its_local_time_becomes_utc_in_winter_and_summer():
    winter, summer = instance(1001), instance(1006)
    assert (winter.flow_instance_id, winter.family_id, winter.status) == (1001, "101", "Inskickat")
    assert winter.first_submitted == datetime(2026, 11, 20, 20, 41, 45, tzinfo=UTC)
    assert summer.first_submitted == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


def test_iso_8859_1_texts_in_cdata_arrive_intact():
    assert instance(1001).answers["beskrivning"].values == ("Påhittad beskrivning med åäö, endast testdata.",)


def test_a_school_report_with_two_siblings_maps_to_a_valid_submission():
    submission = mapped(1001)
    assert submission.submission_id == "oep-1001"
    assert submission.submitted_at == datetime(2026, 11, 20, 20, 41, 45, tzinfo=UTC)
    assert (submission.kind, submission.channel, submission.reporter.type) == (
        "report",
        "e_service",
        "school",
    )
    assert submission.reporter.organisation == "Påhittade skolan" and submission.reporter.feedback_requested
    assert len(submission.children) == 2
    assert submission.concern.categories == ("violence_witnessed", "neglect")
    assert submission.guardians[0].informed is False


def test_a_masked_identity_number_means_the_child_has_no_known_number():
    first, second = mapped(1001).children
    assert first.personal_number is not None and len(first.personal_number) == 12
    assert second.personal_number is None and second.birth_date is not None


def test_the_childs_sex_is_mapped_from_its_own_question_and_is_unknown_when_not_answered():
    first, second = mapped(1001).children
    assert first.sex == "boy"  # barn1Kon: "Pojke"
    assert second.sex == "unknown"  # the form has no barn2Kon answer
    assert {c.sex for c in mapped(1003).children} == {"unknown"}


def test_an_answer_to_the_sex_question_the_mapping_does_not_know_is_unmappable():
    raw = (FIXTURES / "1001.xml").read_bytes().replace(b"[Pojke]", b"[Kanske]")
    with pytest.raises(UnmappableInstance, match="'barn1Kon'") as caught:
        to_submission(parse_flow_instance(raw), MAPPING)
    assert "Kanske" not in str(caught.value)


def test_an_anonymous_private_person_maps_without_name_or_contact():
    submission = mapped(1002)
    assert submission.reporter.type == "private_person" and submission.reporter.anonymous
    assert submission.reporter.name is None and submission.concern.acute_danger
    assert submission.children[0].name


def test_empty_child_slots_of_the_form_are_left_out():
    assert len(mapped(1003).children) == 3
    assert len(mapped(1005).children) == 1


def test_an_answer_the_mapping_does_not_know_is_unmappable_and_named_by_tag_only():
    with pytest.raises(UnmappableInstance, match="'oroOmraden'") as caught:
        to_submission(instance(1007), MAPPING)
    assert "Tvångsäktenskap" not in str(caught.value)


def test_an_invalid_number_fails_the_same_validation_as_the_portal_api():
    with pytest.raises(ValidationError) as caught:
        mapped(1004)
    assert ("children", 0, "personal_number") in [e["loc"] for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<FlowInstance><Header>", "well-formed"),
        (b"<Other/>", "expected a FlowInstance"),
        (
            b"<FlowInstance><Header/></FlowInstance>",
            "expected a FlowInstance in the Open ePlatform namespace",
        ),
        (
            b'<FlowInstance xmlns="http://www.oeplatform.org/version/2.0/schemas/flowinstance"><Header>'
            b"<FlowInstanceID>x</FlowInstanceID></Header></FlowInstance>",
            "lacks",
        ),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa">]><FlowInstance/>',
            "well-formed|expected a FlowInstance|DTD|Entit",
        ),
    ],
)
def test_documents_that_are_not_flow_instances_are_unreadable(raw, reason):
    with pytest.raises((UnreadableInstance, ValueError), match=reason):
        parse_flow_instance(raw)


def test_an_instance_list_gives_the_ids_in_order():
    raw = b"<FlowInstances><FlowInstance><FlowInstanceID>7</FlowInstanceID></FlowInstance>" + (
        b"<FlowInstance><FlowInstanceID>3</FlowInstanceID></FlowInstance></FlowInstances>"
    )
    assert parse_instance_list(raw) == [7, 3]


def test_a_mapping_file_with_an_unknown_key_is_refused_naming_it(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text(
        (REPO / "deploy" / "config" / "oeplatform.orosanmalan.yaml").read_text() + "\nsurprise: 1\n"
    )
    with pytest.raises(ValidationError, match="surprise"):
        load_mapping(bad)


def read(number: int):
    return read_form((FIXTURES / f"{number}.xml").read_bytes(), MAPPING, NOW, 365)


def test_an_instance_is_read_as_the_domain_submission_with_the_validated_body_as_its_details():
    form = read(1001)
    assert (form.flow_instance_id, form.first_submitted) == (
        1001,
        datetime(2026, 11, 20, 20, 41, 45, tzinfo=UTC),
    )
    submission = form.submission
    assert (submission.portal_id, submission.kind, submission.reporter_type) == (
        "oep-1001",
        "report",
        "school",
    )
    assert submission.received_at == form.first_submitted and submission.reporter_mandatory
    assert [c.personal_number is not None for c in submission.children] == [True, False]
    assert (
        submission.categories == ("violence_witnessed", "neglect") and len(submission.guardian_numbers) == 1
    )
    assert json.loads(form.details) == json.loads(mapped(1001).model_dump_json())


@pytest.mark.parametrize(
    ("number", "reason", "answer"),
    [
        (1004, r"invalid after mapping at .*children\.0\.personal_number", None),
        (1007, "question 'oroOmraden'", "Tvångsäktenskap"),
    ],
)
def test_an_instance_that_cannot_be_taken_is_rejected_with_its_time_and_a_reason_naming_no_answer(
    number, reason, answer
):
    with pytest.raises(InstanceRejected, match=reason) as caught:
        read(number)
    assert caught.value.first_submitted == instance(number).first_submitted
    assert answer is None or answer not in caught.value.reason


def test_a_document_that_is_no_flow_instance_is_rejected_without_a_time():
    with pytest.raises(InstanceRejected, match="expected a FlowInstance") as caught:
        read_form(b"<Other/>", MAPPING, NOW, 365)
    assert caught.value.first_submitted is None
