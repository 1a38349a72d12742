"""Intake's Open ePlatform parsers and mapping over real public documents (tests/fixtures/
oeplatform/real/, sources in its README): lists with `flowInstanceID`, lists without an XML
declaration in ISO-8859-1, statuses, SOAP answers and faults, FlowInstances with the standard
contact-details question, masked numbers and files; and what must be refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.intake.adapters.oep_mapping import FormMapping, load_mapping, read_instance, to_submission
from services.intake.adapters.oep_xml import (
    AttachedFile,
    UnexpectedDocument,
    UnreadableInstance,
    parse_flow_instance,
    parse_instance_list,
    parse_soap_answer,
    parse_status,
)
from services.intake.domain.open_eplatform import InstanceRejected

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "oeplatform" / "real"
CONTACT_MAPPING = REPO / "deploy" / "config" / "oeplatform.orosanmalan.contact-details.yaml"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def real(name: str) -> bytes:
    return (REAL / name).read_bytes()


def test_a_real_list_with_a_declaration_gives_its_flow_instance_ids_in_order():
    assert parse_instance_list(real("getinstances-latin1-declared.xml")) == [185375, 185376]


def test_a_real_list_without_a_declaration_is_read_by_the_charset_of_its_content_type():
    raw = real("getinstances-no-declaration.xml")
    assert b"<?xml" not in raw and "Öberg".encode("iso-8859-1") in raw  # Latin-1, undeclared
    assert parse_instance_list(raw, "ISO-8859-1") == [4999, 4965, 4933, 4932]
    with pytest.raises(UnreadableInstance, match="well-formed"):
        parse_instance_list(raw)  # as UTF-8, the XML default, its letters are not valid
    with pytest.raises(UnreadableInstance, match="not utf-8"):
        parse_instance_list(raw, "utf-8")


def test_an_empty_real_list_is_no_instances():
    assert parse_instance_list(real("getinstances-empty.xml"), "ISO-8859-1") == []


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("getstatus.xml", "<Status>"),
        ("getmessages.xml", "<Messages>"),  # its messages carry flowInstanceIDs too
        ("setStatusResponse.xml", "<Envelope>"),
        ("fault-flowinstance-not-found.xml", "<Envelope>"),
        ("getinstance-preliminar.xml", "<FlowInstance> in namespace"),
    ],
)
def test_what_is_not_an_instance_list_is_refused_by_the_list_parser_naming_what_it_is(name, root):
    with pytest.raises(UnexpectedDocument, match=f"expected the instance list <FlowInstances>, got {root}"):
        parse_instance_list(real(name))


def test_a_list_of_instances_without_ids_is_refused():
    with pytest.raises(UnexpectedDocument, match="no numeric flowInstanceID"):
        parse_instance_list(b"<FlowInstances><FlowInstance><added>x</added></FlowInstance></FlowInstances>")


def test_a_real_status_is_read_and_other_documents_are_not_statuses():
    status = parse_status(real("getstatus.xml"))
    assert (status.status_id, status.name, status.content_type) == (10361, "Inskickat", "SUBMITTED")
    with pytest.raises(UnexpectedDocument, match="expected a <Status>"):
        parse_status(real("getinstances-latin1-declared.xml"))


def test_real_callback_answers_are_answers_and_the_real_fault_keeps_its_text():
    assert parse_soap_answer(real("setStatusResponse.xml"), "setStatusResponse") is None
    assert parse_soap_answer(real("confirmDeliveryResponse.xml"), "confirmDeliveryResponse") is None
    fault = parse_soap_answer(real("fault-flowinstance-not-found.xml"), "setStatusResponse")
    assert fault is not None
    assert (fault.code, fault.text, fault.detail) == (
        "S:Server",
        "The requested flow instance with ID 5640 was not found",
        None,
    )
    assert fault.instance_not_found


def test_a_callback_answer_for_another_operation_or_no_envelope_is_refused():
    with pytest.raises(
        UnexpectedDocument, match="expected <confirmDeliveryResponse>, got <setStatusResponse>"
    ):
        parse_soap_answer(real("setStatusResponse.xml"), "confirmDeliveryResponse")
    with pytest.raises(UnexpectedDocument, match="expected a SOAP envelope"):
        parse_soap_answer(real("getstatus.xml"), "setStatusResponse")


def test_a_real_flow_instance_gives_its_header_status_name_and_answers_and_a_masked_number_is_unknown():
    instance = parse_flow_instance(real("getinstance-preliminar.xml"))
    assert (instance.flow_instance_id, instance.family_id, instance.status) == (235212, "832", "Preliminär")
    assert instance.first_submitted == datetime(2024, 12, 5, 20, 41, 45, tzinfo=UTC)  # 21:41:45 in Stockholm
    assert "citizenIdentifier" not in instance.answers["employeeData"].fields  # "************"
    assert instance.answers["absentDateFrom"].text() == "2024-11-30"
    assert instance.answers["employmentType"].values == ("Månadsavlönad",)
    assert instance.files == ()


def test_a_flow_instance_in_a_foreign_namespace_is_refused():
    with pytest.raises(
        UnreadableInstance,
        match=re.escape("Open ePlatform namespace, got <FlowInstance> in namespace http://www.nowhere.com"),
    ):
        parse_flow_instance(real("getinstance-foreign-namespace.xml"))


def test_the_standard_contact_details_question_is_read_by_its_own_field_names():
    mapping = FormMapping.model_validate(
        {
            "kind": "report",
            "reporter": {
                "type": {"tag": "VemArKontaktperson", "values": {"Jag själv": "private_person"}},
                "person": "SaljarensUppg",
            },
            "children": [{"person": "KontaktuppgifterPrivatperson"}],
            "concern": {"categories": {"tag": "FakturanSkickasTill", "values": {"Privatperson": "other"}}},
        }
    )
    body = to_submission(parse_flow_instance(real("getinstance-contact-details.xml")), mapping)
    assert body["reporter"] == {
        "type": "private_person", "anonymous": False, "name": "Saga Påhittad",
        "phone": "070-000 00 01", "email": "saga.pahittad@kommun.example", "feedback_requested": False,
    }  # fmt: skip
    assert body["children"] == [
        {"personal_number": "199001019877", "name": "Märta Påhittad", "protected_identity": False}
    ]


def test_field_names_are_configured_per_question_and_an_unconfigured_name_is_not_read():
    mapping = load_mapping(CONTACT_MAPPING)
    form, _ = read_instance(real("composed-orosanmalan-4999.xml"), None, mapping, NOW, 365)
    assert form.submission.children[0].personal_number == "201503129825"  # from <Personnummer>
    data = mapping.model_dump()
    data["children"][0]["person"] = "barnet"  # the mapping's default field names only
    renamed = FormMapping.model_validate(data)
    with pytest.raises(InstanceRejected, match="children"):  # Fornamn/Personnummer not read by default
        read_instance(real("composed-orosanmalan-4999.xml"), None, renamed, NOW, 365)


def test_every_uploaded_file_is_listed_with_its_name_and_size_and_is_no_answer():
    instance = parse_flow_instance(real("composed-orosanmalan-4999.xml"))
    assert instance.files == (
        AttachedFile("bilagor", 70041, 9001, "Samtal med Hugo F 2025-02-26.txt", 50),
        AttachedFile("bilagor", 70041, 9002, "Skolans dokumentation.pdf", 67),
    )
    assert instance.answers["bilagor"].fields == {}


def test_a_file_without_an_id_is_an_unreadable_instance():
    raw = real("composed-orosanmalan-4999.xml").replace(b"<ID>9002</ID>", b"")
    with pytest.raises(UnreadableInstance, match="File of question 'bilagor'"):
        parse_flow_instance(raw)


def test_an_answer_the_mapping_does_not_know_is_refused_naming_the_question_only():
    mapping = load_mapping(CONTACT_MAPPING)
    with pytest.raises(InstanceRejected) as caught:
        read_instance(real("composed-orosanmalan-4965.xml"), None, mapping, NOW, 365)
    assert caught.value.reason == "question 'oroOmraden': 1 answer(s) not in the mapping"
    assert "Nätmobbning" not in caught.value.reason
