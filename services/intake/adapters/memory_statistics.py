"""The statistics store over intake's fake tables (tests/contract/test_intake_statistics_ports.py
holds it to the Postgres store's behaviour)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime

from services.intake.domain.statistics import CaseProgress, StatisticsRecord, projected


class InMemoryStatisticsStore:
    """Records by referral id; decisions applied by the domain's rule."""

    def __init__(self, records: MutableMapping[str, StatisticsRecord], begin: Callable[[], None]) -> None:
        self._records, self._begin = records, begin

    async def decided(self, changes: Sequence[CaseProgress]) -> None:
        """Apply them in order; a referral without a record is skipped."""
        self._begin()
        for change in changes:
            record = self._records.get(change.referral_id)
            if record is not None:
                self._records[change.referral_id] = projected(record, change)

    async def received_between(self, start: datetime, end: datetime) -> list[StatisticsRecord]:
        """Those received in [start, end), by receipt."""
        self._begin()
        found = [r for r in self._records.values() if start <= r.received_at < end]
        return sorted(found, key=lambda r: (r.received_at, r.referral_id))
