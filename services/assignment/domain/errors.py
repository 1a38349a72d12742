"""What assignment's use cases refuse, as domain exceptions.

The HTTP edge (`services/assignment/api`) maps them to problem details and the Kafka edge
(`services/assignment/subscribers.py`) to dead letters; nothing below knows of either. Messages
name fields, teams and staff ids, never anything about a client.
"""

from __future__ import annotations


class AssignmentRefused(Exception):
    """A request the unit's rules or the case's state do not allow."""


class CaseNotFound(AssignmentRefused):
    """No referral with this id has been assigned."""

    def __init__(self) -> None:
        super().__init__("no assignment for this referral")


class InvalidTransition(AssignmentRefused):
    """The action does not fit the case's current status."""


class NoFeedbackDue(AssignmentRefused):
    """Feedback to the reporter was recorded where none is due."""

    def __init__(self) -> None:
        super().__init__("no feedback is due: none was requested, or no decision yet")


class NotPermitted(AssignmentRefused):
    """The actor has no relation to the referral that allows the action (domain/access.py)."""

    def __init__(self, action: str, allowed: str) -> None:
        super().__init__(f"{action} is for: {allowed}")
        self.action = action


class AlreadyTheCaseworker(AssignmentRefused):
    """A reassignment to the caseworker who has the referral already changes nothing."""

    def __init__(self) -> None:
        super().__init__("`caseworker` has this referral already")


class ImplausibleTime(AssignmentRefused):
    """A time outside the years the unit plans for: no rule applies to it, and arithmetic on it
    could overflow (year 1 once stalled assignment for good, issue 24)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} lies outside the years the unit plans for")


class TimeOutOfRange(AssignmentRefused):
    """The time an action happened cannot be: before what it follows, or in the future."""


class ExtensionNotLater(AssignmentRefused):
    """An extension must move the investigation's due date later."""

    def __init__(self) -> None:
        super().__init__("`until` must be after the current due date")


class ExtensionTooLong(AssignmentRefused):
    """One extension decision may move the due date at most so many months."""

    def __init__(self, months: int) -> None:
        super().__init__(f"`until` may lie at most {months} months after the current due date")


class UnknownCaseworker(AssignmentRefused):
    """The staff id is not a caseworker of the unit."""

    def __init__(self) -> None:
        super().__init__("`caseworker` is not a caseworker in the unit config")


class UnknownStaff(AssignmentRefused):
    """The staff id is nobody in the unit."""

    def __init__(self) -> None:
        super().__init__("no such staff id")


class UnknownTeam(AssignmentRefused):
    """The team is not in the unit: named by a request, or by the rotation or an earlier case."""

    def __init__(self, team: str) -> None:
        # The id may come from a request: the message does not repeat it.
        super().__init__("the team is not in the unit config")
        self.team = team


class InvalidOverrideWindow(AssignmentRefused):
    """An override must end after it starts."""

    def __init__(self) -> None:
        super().__init__("ends_at must be after starts_at")


class NoRunningAbsence(AssignmentRefused):
    """Ending an absence early needs one that runs on the day the person is back."""

    def __init__(self) -> None:
        super().__init__("no absence of this person runs on back_on")


class InvalidAbsenceDates(AssignmentRefused):
    """An absence must end on or after its first day, within ten years."""

    def __init__(self) -> None:
        super().__init__("ends_on must be on or after starts_on, within ten years")


class InvalidScheduleRange(AssignmentRefused):
    """A schedule is asked for from a day to a later one, over a bounded number of days."""

    def __init__(self, max_days: int) -> None:
        super().__init__(f"need from <= to, at most {max_days} days")


class InvalidQueueFilter(AssignmentRefused):
    """A work queue's filter names something the unit lacks, or asks for an impossible page."""


class FeedNotFound(AssignmentRefused):
    """No calendar feed with this id (or not one the caller may see)."""

    def __init__(self) -> None:
        super().__init__("no such calendar feed")


class InvalidIncident(AssignmentRefused):
    """An incident that cannot be recorded as given (e.g. a day in the future)."""


class InvalidQuarter(AssignmentRefused):
    """A quarter not written as a year and a quarter, such as 2026Q3."""


class UnknownReferral(AssignmentRefused):
    """A referral named as a reference that assignment has never assigned."""

    def __init__(self, field: str) -> None:
        super().__init__(f"`{field}` names no known referral")
