"""The dev stack's OpenID Connect provider (`python -m services.web.dev_identity`): the PyPI
package `oidc-provider-mock` with one sign-in button per member of staff of the unit file, each
carrying a `roles` claim, so anyone can sign in as any staff id of the unit config.

Never for production: it signs in whoever presses a button.
"""

from __future__ import annotations

import argparse
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from shared.unit_config import UnitConfig, load_unit_config

# The unit file's role of a person → the staff API roles of their token (CONTRACTS.md §3).
ROLES_OF = {
    "caseworker": ["caseworker"],
    "manager": ["manager"],
    "head_of_unit": ["head_of_unit"],
    "intake": ["intake"],
    "out_of_hours": ["caseworker"],
    "partner": ["partner"],  # colleagues elsewhere in social services: consultations only (issue 22)
    "occupational_health": [],  # told by email; signs in to nothing
}


def staff_claims(config: UnitConfig) -> dict[str, dict[str, object]]:
    """Each staff id's claims: roles (and a name, which is staff data, not client data)."""
    return {p.id: {"roles": ROLES_OF[p.role], "name": p.name} for p in config.all_people()}


def _sign_with_key_id() -> None:
    """Make the provider name its key (`kid`) in every ID token's header.

    oidc-provider-mock 0.3.4 signs without a `kid`; JWKS clients (PyJWT's, which the staff APIs'
    TokenVerifier uses, as Entra ID and Keycloak always send one) find the key by it. Authlib
    puts `kid` in the header when the grant's JWT config names one.
    """
    from oidc_provider_mock import _app

    if getattr(_app.OpenIDCode, "names_kid", False):
        return
    original = _app.OpenIDCode

    class OpenIDCodeWithKid(original):  # type: ignore[misc, valid-type]
        names_kid = True

        def get_jwt_config(self, grant: Any, client: Any = None) -> dict[str, Any]:
            config: dict[str, Any] = super().get_jwt_config(grant, client)
            config["kid"] = config["key"].get("kid")
            return config

    _app.OpenIDCode = OpenIDCodeWithKid


def provider_users(claims: dict[str, dict[str, object]]) -> list[Any]:
    """oidc-provider-mock users from staff claims."""
    import oidc_provider_mock  # dev/test dependency only

    return [oidc_provider_mock.User(sub=sub, claims=c) for sub, c in claims.items()]


def make_app(claims: dict[str, dict[str, object]]) -> Any:
    """The provider's WSGI app with these staff as one-click users."""
    import oidc_provider_mock

    _sign_with_key_id()
    return oidc_provider_mock.app(user_claims=provider_users(claims), require_nonce=True)


def run_in_thread(claims: dict[str, dict[str, object]]) -> AbstractContextManager[Any]:
    """The provider on a free port of 127.0.0.1 in a background thread (tests)."""
    import oidc_provider_mock

    _sign_with_key_id()
    server: AbstractContextManager[Any] = oidc_provider_mock.run_server_in_thread(
        user_claims=provider_users(claims), require_nonce=True
    )
    return server


def main() -> None:
    """Serve the provider on 127.0.0.1:`DEV_OIDC_PORT` (8090) until interrupted."""
    import werkzeug.serving

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEV_OIDC_PORT", "8090")))
    parser.add_argument(
        "--unit-config",
        type=Path,
        default=Path(os.environ.get("UNIT_CONFIG_PATH", "deploy/config/unit.example.yaml")),
    )
    args = parser.parse_args()
    app = make_app(staff_claims(load_unit_config(args.unit_config)))
    werkzeug.serving.run_simple("127.0.0.1", args.port, app, threaded=True)


if __name__ == "__main__":
    main()
