"""The monthly access-log review's configuration: thresholds from the environment
(`ACCESS_REVIEW__…`), the head of unit and office hours from the unit file, holidays from the
shared calendar. The composition root builds the use case's inputs with `access_reviewing`."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from services.intake.domain.access_review import ReviewRules
from services.intake.handlers.access_review import AccessReviewing
from services.intake.ports import ReviewUnitOfWork
from shared.office_days import swedish_holidays
from shared.unit_config import UnitConfig


class AccessReviewSettings(BaseModel):
    """`ACCESS_REVIEW__…`: when a staff member's volume stands out, and how often to look."""

    volume_floor: int = Field(
        default=100, ge=1, description="distinct referrals a month nobody stands out below"
    )
    volume_factor: float = Field(
        default=3.0, gt=0, description="times the median that stands out above the floor"
    )
    check_interval_s: float = Field(
        default=600.0, gt=0, description="seconds between looks whether a review is due"
    )


def review_rules(unit: UnitConfig, settings: AccessReviewSettings) -> ReviewRules:
    """The review's rules: the unit file's office hours, the settings' volume thresholds."""
    return ReviewRules(
        office_start=unit.office_hours.start,
        office_end=unit.office_hours.end,
        volume_floor=settings.volume_floor,
        volume_factor=settings.volume_factor,
    )


def access_reviewing(
    unit_of_work: Callable[[], ReviewUnitOfWork], unit: UnitConfig, settings: AccessReviewSettings
) -> AccessReviewing:
    """The review use case's inputs; the review goes to the unit file's head of unit."""
    return AccessReviewing(
        unit_of_work, unit.head_of_unit.id, review_rules(unit, settings), swedish_holidays()
    )
