import pytest
from pydantic import SecretStr

from services.intake.signatures import AuthenticationFailed, sign, verify

CLIENTS = {"dev-portal": [SecretStr("old-secret"), SecretStr("new-secret")]}
BODY = b'{"submission_id": "oep-1"}'
NOW = 1_790_000_000


def test_a_body_signed_with_any_active_secret_is_accepted():
    for secret in ("old-secret", "new-secret"):
        assert verify(CLIENTS, "dev-portal", sign(secret, NOW, BODY), BODY, NOW) == "dev-portal"


@pytest.mark.parametrize(
    ("client", "signature", "body", "now", "reason"),
    [
        (None, sign("new-secret", NOW, BODY), BODY, NOW, "required"),
        ("dev-portal", None, BODY, NOW, "required"),
        ("dev-portal", "v1=abc", BODY, NOW, "look like"),
        ("unknown", sign("new-secret", NOW, BODY), BODY, NOW, "does not match"),
        ("dev-portal", sign("wrong", NOW, BODY), BODY, NOW, "does not match"),
        ("dev-portal", sign("new-secret", NOW, BODY), BODY + b" ", NOW, "does not match"),
        ("dev-portal", sign("new-secret", NOW - 301, BODY), BODY, NOW, "300 s"),
        ("dev-portal", sign("new-secret", NOW + 301, BODY), BODY, NOW, "300 s"),
    ],
)
def test_requests_that_are_not_properly_signed_are_rejected(client, signature, body, now, reason):
    with pytest.raises(AuthenticationFailed, match=reason):
        verify(CLIENTS, client, signature, body, now)


def test_a_signature_exactly_at_the_edge_of_the_window_is_accepted():
    assert verify(CLIENTS, "dev-portal", sign("new-secret", NOW - 300, BODY), BODY, NOW)
