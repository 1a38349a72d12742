"""The codes a submission may carry: reporter types, who may be anonymous, concern categories.

Mandatory reporters follow 19 kap. 1 § SoL (2025:400), the list widened 2026-01-15 (DOMAIN.md §4).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["report", "application"]
Channel = Literal["e_service", "phone", "letter", "email", "sdk", "visit"]
MANDATORY_REPORTERS = frozenset(
    {
        "health_care",
        "dental_care",
        "social_services",
        "lss",
        "preschool",
        "school",
        "after_school",
        "police",
        "security_guard",
        "employment_service",
        "social_insurance",
        "prison_probation",
        "enforcement",
        "coast_guard",
        "county_board",
        "migration",
        "forensic_medicine",
        "tax_agency",
        "security_service",
        "customs",
        "prosecution",
        "other_authority",
        "private_business",
        "family_counselling",
    }
)
OTHER_REPORTERS = frozenset({"private_person", "relative", "child_self", "guardian"})
MAY_BE_ANONYMOUS = frozenset({"private_person", "relative"})
CATEGORIES = frozenset(
    {
        "violence",
        "violence_witnessed",
        "sexual_abuse",
        "neglect",
        "honour_related",
        "substance_abuse_home",
        "own_behaviour",
        "crime_risk",
        "mental_health",
        "other",
    }
)


def is_mandatory_reporter(reporter_type: str) -> bool:
    """Whether the reporter type is a mandatory reporter (19 kap. 1 § SoL 2025:400)."""
    return reporter_type in MANDATORY_REPORTERS
