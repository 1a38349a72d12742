"""What staff are told, and when (DOMAIN.md §6). Standard library only.

A message says that there is something to do, for whom on the staff, by when, and links into
the system. Never anything about the child, the family, the reporter or the concern — and never
a referral's categories, so a protected-identity referral cannot leak one by mistake.
"""

from services.notifications.domain.cards import adaptive_card, digest_card
from services.notifications.domain.messages import KINDS, Message, Notice, digest_message, render
from services.notifications.domain.office import OfficeHours, is_office_time, next_office_start

__all__ = [
    "KINDS",
    "Message",
    "Notice",
    "OfficeHours",
    "adaptive_card",
    "digest_card",
    "digest_message",
    "is_office_time",
    "next_office_start",
    "render",
]
