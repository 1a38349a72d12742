"""Checking the access log's hash chain (`referral-router verify-access-log`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.intake.domain.access_chain import ChainCheck
from services.intake.ports import IntakeUnitOfWork

PAGE = 1000


async def verify_access_log(
    unit_of_work: Callable[[], IntakeUnitOfWork], page: int = PAGE, anchors: Mapping[int, bytes] | None = None
) -> ChainCheck:
    """Walk the whole chain in pages; the check says how many rows held and where it first broke.
    `anchors` (seq -> hash, from the monthly reviews) must still hold, and no anchored row be gone."""
    check = ChainCheck(anchors)
    while check.broken is None:
        async with unit_of_work() as uow:
            rows = await uow.access_log.chain(check.last_seq, page)
        if not rows:
            break
        check.feed(rows)
    check.finish()
    return check
