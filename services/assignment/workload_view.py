"""The managers' workload view: per caseworker open cases, weighted load, capacity and absences."""

from __future__ import annotations

from datetime import datetime

from services.assignment.domain.workload import active_mentors, capacity
from services.assignment.handlers import AssignmentContext
from shared.db import Conn


async def workload(conn: Conn, ctx: AssignmentContext, now: datetime) -> dict[str, object]:
    """Everything GET /v1/workload returns; staff ids only, nothing about clients."""
    day = now.astimezone(ctx.tz).date()
    rows = await conn.fetch(
        "SELECT caseworker, count(*) AS open_cases, coalesce(sum(weight), 0) AS weighted"
        " FROM assignments WHERE status <> 'closed' GROUP BY caseworker"
    )
    loads = {r["caseworker"]: (r["open_cases"], float(r["weighted"])) for r in rows}
    absences = await conn.fetch(
        "SELECT staff_id, starts_on, ends_on, kind FROM absences WHERE ends_on >= $1 ORDER BY starts_on",
        day,
    )
    mentors = active_mentors(ctx.staff, day, ctx.rules)
    people = []
    for w in ctx.staff:
        open_cases, weighted = loads.get(w.staff_id, (0, 0.0))
        cap = capacity(w, day, ctx.rules, mentors)
        people.append(
            {
                "staff_id": w.staff_id,
                "team": w.team,
                "open_cases": open_cases,
                "weighted_load": round(weighted, 2),
                "capacity": round(cap, 2),
                "employment_rate": w.employment_rate,
                "mentor": w.mentor,
                "absences": [
                    {"starts_on": a["starts_on"], "ends_on": a["ends_on"], "kind": a["kind"]}
                    for a in absences
                    if a["staff_id"] == w.staff_id
                ],
            }
        )
    return {"at": now, "caseworkers": people}
