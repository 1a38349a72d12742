"""One referral per child: opaque ids, pseudonymous keys, siblings linked (DOMAIN.md §4).

Ids and keys come in as functions, so the rule stays pure and tests can fix them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

# The child's sex as the reporter gave it on the form (`unknown` when not given). Never derived
# from the personal identity number (DOMAIN.md §5): numbers may become sex-neutral.
Sex = Literal["girl", "boy", "other", "unknown"]


@dataclass(frozen=True)
class Child:
    """One child of a submission, as much as intake needs to route it."""

    personal_number: str | None  # 12-digit normalised, or None when unknown
    protected_identity: bool
    birth_date: date | None = None  # as the reporter gave it: the statistics' only source of age
    sex: Sex = "unknown"  # as the reporter gave it: the statistics' only source of sex


@dataclass(frozen=True)
class Referral:
    """One referral per child: opaque id and pseudonymous keys only."""

    referral_id: str
    child_index: int
    child_key: str
    family_key: str
    protected_identity: bool
    sibling_referral_ids: tuple[str, ...]


def split_into_referrals(
    children: Sequence[Child],
    guardian_numbers: Sequence[str],
    *,
    new_id: Callable[[], str],
    key_of: Callable[[str, str], str],
    random_key: Callable[[str], str],
) -> list[Referral]:
    """One referral per child, siblings linked and sharing a family key.

    Children with a known number get a stable `child_key`; others a random key a later link can
    merge. Siblings in different submissions share a family key when they name the same guardian.
    """
    ids = [new_id() for _ in children]
    family_key = key_of("family", min(guardian_numbers)) if guardian_numbers else random_key("family")
    return [
        Referral(
            referral_id=ids[i],
            child_index=i,
            child_key=key_of("child", c.personal_number) if c.personal_number else random_key("child"),
            family_key=family_key,
            protected_identity=c.protected_identity,
            sibling_referral_ids=tuple(x for x in ids if x != ids[i]),
        )
        for i, c in enumerate(children)
    ]
