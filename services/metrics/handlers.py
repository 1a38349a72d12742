"""The metrics service's use cases: project a run of events into the read models; read the figures."""

from __future__ import annotations

from collections.abc import Sequence

from services.metrics.domain.events import MetricsEvent
from services.metrics.domain.figures import Figures
from services.metrics.domain.projection import read_model_changes
from services.metrics.ports import FiguresReader, MetricsUnitOfWork


async def project(uow: MetricsUnitOfWork, events: Sequence[MetricsEvent]) -> None:
    """Fold a run of events into the read models, in the consumer's unit of work (a single event
    is a run of one): every change of every event, in order, in one go."""
    await uow.read_models.apply([change for event in events for change in read_model_changes(event)])


async def current_figures(reader: FiguresReader) -> Figures:
    """The figures of the read models as they are now, from one consistent snapshot."""
    return await reader.figures()
