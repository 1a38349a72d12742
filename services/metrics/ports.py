"""What the metrics service's use cases need: the read models to change and to read, a unit of work.

Protocols only: Postgres adapters in `adapters/postgres.py`, in-memory fakes in `adapters/memory.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.metrics.domain.figures import Figures
from services.metrics.domain.projection import Change
from shared.ports import ConsumingUnitOfWork


class ReadModels(Protocol):
    """The read models the projections keep."""

    async def apply(self, changes: Sequence[Change]) -> None:
        """Make the changes, leaving exactly the rows they would leave made one at a time, in order."""
        ...


class FiguresReader(Protocol):
    """The read models as figures, for /metrics."""

    async def figures(self) -> Figures:
        """Every figure, read from one consistent snapshot."""
        ...


class MetricsUnitOfWork(ConsumingUnitOfWork, Protocol):
    """The consumer's unit of work with the read models in it."""

    @property
    def read_models(self) -> ReadModels: ...
