"""OpenAPI texts and examples of the portal API (served at /openapi.json and /docs).

Every example holds synthetic data only (serials 980-999, invented names).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.intake.schemas import Submission

DESCRIPTION = """
One submitted e-service form. Sign the exact bytes you send:

`X-Client-Id: <client id>` and
`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

Each child becomes one referral, linked to its siblings. Send the same `submission_id` again
with the same body after a timeout or a 503: you get the original answer (200). `submitted_at`
(the legal receipt time) must carry a UTC offset, lie no more than 5 minutes ahead and no more
than a year back (`PORTAL__MAX_AGE_DAYS`). Errors are `application/problem+json` with an
`errors` list of `{"loc": [...], "msg": ...}`; they name the field, never the value sent.

A child's `sex` (`girl`, `boy`, `other`, `unknown`; default `unknown`) and `birth_date` are
optional; the national statistics count by them and never read them from the personal identity
number, so send them whenever the form asks.
"""

_REPORT: dict[str, Any] = {
    "submission_id": "oep-184467",
    "kind": "report",
    "channel": "e_service",
    "submitted_at": "2026-11-20T23:41:07+01:00",
    "reporter": {
        "type": "school",
        "anonymous": False,
        "name": "Vera Exempelberg",
        "organisation": "Påhittade skolan",
        "role": "Lärare",
        "phone": "070-000 00 00",
        "email": "larare@skola.example",
        "feedback_requested": True,
    },
    "children": [
        {
            "personal_number": "20150412-9824",
            "name": "Alva Testsson",
            "birth_date": "2015-04-12",
            "sex": "girl",
            "protected_identity": False,
            "school": "Påhittade skolan",
        },
        {"personal_number": None, "name": "Nils Testsson", "birth_date": "2019-06-02", "sex": "boy"},
    ],
    "guardians": [{"personal_number": "198503149919", "name": "Stina Testsson", "informed": False}],
    "concern": {
        "categories": ["violence_witnessed"],
        "description": "Påhittad oro, endast exempel.",
        "acute_danger": False,
        "child_location": "Skolan",
        "interpreter_language": None,
    },
}

_ANONYMOUS: dict[str, Any] = {
    "submission_id": "oep-184468",
    "kind": "report",
    "channel": "e_service",
    "submitted_at": "2026-11-21T08:02:00+01:00",
    "reporter": {"type": "private_person", "anonymous": True},
    "children": [{"name": "Ture Provlund", "birth_date": "2012-09-03"}],
    "concern": {"categories": ["neglect"], "description": "Påhittad oro.", "acute_danger": False},
}

REQUEST_EXAMPLES: dict[str, Any] = {
    "school_report_two_siblings": {"summary": "A school reports two siblings", "value": _REPORT},
    "anonymous_private_person": {"summary": "An anonymous private person", "value": _ANONYMOUS},
}


def _problem(status: int, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {"type": "about:blank", "title": title, "status": status, **extra},
            }
        }
    }


_ACCEPTED = {
    "submission_id": "oep-184467",
    "reference": "S-4D8RJ2X0QW6N",
    "received_at": "2026-11-20T22:41:07+00:00",
    "referrals": [
        {"referral_id": "R-7Q2K9M3XH4TB", "child_index": 0},
        {"referral_id": "R-0B5N8W1FJ6DC", "child_index": 1},
    ],
}

RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Stored durably (committed); one referral per child.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}, "example": _ACCEPTED}
        },
    },
    200: {
        "description": "Same submission_id and identical body again: the original answer.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}, "example": _ACCEPTED}
        },
    },
    401: {
        "description": "Authentication failed; nothing stored.",
        **_problem(401, "Authentication failed", detail="unknown client or signature does not match"),
    },
    409: {
        "description": "Same submission_id with a different body.",
        **_problem(409, "Submission id already used"),
    },
    413: {"description": "Body over 256 KiB.", **_problem(413, "Body too large")},
    415: {"description": "Not application/json.", **_problem(415, "Unsupported media type")},
    422: {
        "description": "Invalid body; every error listed with its field path. Nothing stored.",
        **_problem(
            422,
            "Invalid referral",
            errors=[
                {
                    "loc": ["children", 0, "personal_number"],
                    "msg": "not a valid personal identity or coordination number: "
                    "the check digit does not match",
                }
            ],
        ),
    },
    503: {
        "description": "Database unavailable; nothing stored. Retry after the Retry-After header.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
        **_problem(503, "Service unavailable"),
    },
}

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
_ACCEPTED_SCHEMA = {
    "type": "object",
    "required": ["submission_id", "reference", "received_at", "referrals"],
    "properties": {
        "submission_id": {"type": "string", "description": "Your submission id, as you sent it."},
        "reference": {
            "type": "string",
            "description": "Our reference for the submission (quote it to the unit); your id stays with us.",
        },
        "received_at": {"type": "string", "format": "date-time"},
        "referrals": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["referral_id", "child_index"],
                "properties": {"referral_id": {"type": "string"}, "child_index": {"type": "integer"}},
            },
        },
    },
}


# The portal's signature scheme (CONTRACTS.md §2): two headers that only hold together, so one
# security requirement names both schemes (OpenAPI ANDs the schemes of one requirement).
SECURITY_SCHEMES: dict[str, Any] = {
    "PortalClientId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Client-Id",
        "description": "The portal client's id, as configured in `PORTAL__CLIENTS`.",
    },
    "PortalSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": '`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` with one of the '
        "client's secrets; `t` within 300 s of the server's clock. Compared in constant time.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"PortalClientId": [], "PortalSignature": []}]
SIGNATURE_PATTERN = r"^t=[0-9]{1,12},v1=[0-9a-fA-F]{64}$"
HEADER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "X-Client-Id",
        "in": "header",
        "required": True,
        "description": "The portal client's id.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
        "example": "dev-portal",
    },
    {
        "name": "X-Signature",
        "in": "header",
        "required": True,
        "description": "HMAC-SHA256 of `<t>.<raw body>` under one of the client's secrets, hex; "
        "`t` is the signing time in unix seconds. Missing, malformed or stale: 401.",
        "schema": {"type": "string", "pattern": SIGNATURE_PATTERN},
        "example": "t=1795732867,v1=" + "0" * 64,
    },
]


def with_portal_schemas(app: FastAPI) -> FastAPI:
    """Add the body and answer schemas to the app's OpenAPI components (the route reads raw bytes)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            submission = Submission.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(submission.pop("$defs", {}))
            schemas.update({"Submission": submission, "Problem": _PROBLEM, "Accepted": _ACCEPTED_SCHEMA})
            schemes = document["components"].setdefault("securitySchemes", {})
            schemes.update(SECURITY_SCHEMES)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
