"""The live view of `referral-router dev`: one screen that shows the system doing its job.

On a terminal it redraws every second with rich; otherwise (a pipe, a CI log) it prints one
summary line every few seconds. The data comes from referral_router/live_data.py; nothing here
fetches anything, and nothing shown is client personal data (staff ids, team names, counts and
the subjects staff received, which carry only the opaque referral reference).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from referral_router.live_data import DEADLINES, Load, OnDuty, Snapshot

BAR_WIDTH = 16
PLAIN_EVERY_S = 5.0
STATES = ("ok", "approaching", "breached")
DEADLINE_LABELS = {
    "protection_assessment": "protection assessment",
    "preliminary_assessment": "preliminary assessment",
    "investigation": "investigation",
    "reporter_feedback": "feedback to reporter",
    "registration": "registration",
}


def duration(delta: timedelta) -> str:
    """A short human duration such as `1 d 22 h` or `14 min`."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def bar(value: float, maximum: float, width: int = BAR_WIDTH) -> str:
    """A text bar: `width` cells, filled in proportion to value/maximum (overflow shows as full)."""
    filled = 0 if maximum <= 0 else min(width, round(width * value / maximum))
    return "█" * filled + "░" * (width - filled)


def team_label(snap: Snapshot, team: str) -> str:
    """`Team A (team-a)`, or the id alone when the config has no name for it."""
    name = snap.unit.team_names.get(team)
    return f"{name} ({team})" if name and name != team else team


def _local(snap: Snapshot, at: datetime, fmt: str = "%a %d %b %H:%M") -> str:
    return at.astimezone(snap.unit.tz).strftime(fmt)


def _duty_lines(snap: Snapshot, duty: OnDuty, now: datetime) -> list[Text]:
    source = "" if duty.source == "rotation" else f" [{duty.source}]"
    return [
        Text.assemble(("on duty  ", "dim"), (team_label(snap, duty.team), "bold green"), source),
        Text.assemble(
            ("handover ", "dim"),
            f"{_local(snap, duty.period_end)} (in {duration(duty.period_end - now)})",
        ),
    ]


def on_duty_panel(snap: Snapshot) -> Panel:
    """The team on duty now and the time to the next handover; the simulated clock if accelerated."""
    lines: list[Text] = []
    if snap.on_duty is None:
        lines.append(Text("on duty  (asking the staff API …)", "dim"))
    else:
        lines += _duty_lines(snap, snap.on_duty, snap.taken_at)
    if snap.simulated_at is not None:
        lines.append(Text.assemble(("simulated time ", "dim"), (_local(snap, snap.simulated_at), "yellow")))
        if snap.simulated_on_duty is not None:
            lines += _duty_lines(snap, snap.simulated_on_duty, snap.simulated_at)
    lines += _new_referral_lines(snap)
    return Panel(Group(*lines), title="Rotation", border_style="cyan")


def _new_referral_lines(snap: Snapshot) -> list[Text]:
    """Where a referral arriving now goes, and why (it differs from the team on duty at night
    and on weekends under the next-office-hours policy)."""
    route = snap.new_referrals
    if route is None or route.team is None:
        return []
    return [
        Text.assemble(("new referrals now go to ", "dim"), (team_label(snap, route.team), "bold green")),
        Text.assemble(("  why ", "dim"), route.why),
    ]


def referrals_panel(snap: Snapshot) -> Panel:
    """Received and assigned, per team, and what the simulator did."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_row("received", f"{snap.received:.0f}")
    table.add_row("assigned", f"{snap.assigned:.0f}")
    for team in sorted(snap.assigned_by_team):
        open_now = snap.open_by_team.get(team, 0)
        table.add_row(f"  {team}", f"{snap.assigned_by_team[team]:.0f} ({open_now:.0f} open)")
    sim = snap.simulator
    if sim is not None:
        table.add_row("portal sim", f"{sim.accepted} sent ok, {sim.repeats} repeats")
        if sim.rejected or sim.retried:
            table.add_row("", Text(f"{sim.rejected} rejected, {sim.retried} retried", "red"))
    return Panel(table, title="Referrals", border_style="cyan")


def health_panel(snap: Snapshot) -> Panel:
    """Each service's /readyz (and the sinks' /healthz)."""
    table = Table.grid(padding=(0, 1))
    for part, state in snap.health.items():
        mark = Text("✓", "green") if state == "ready" else Text("✗", "bold red")
        table.add_row(mark, part, Text(state, "green" if state == "ready" else "red"))
    if not snap.health:
        table.add_row(Text("…", "dim"), "asking the services")
    return Panel(table, title="Services", border_style="cyan")


def _team_loads(snap: Snapshot, team: str, rows: list[Load]) -> Table:
    table = Table(title=team_label(snap, team), title_style="bold", box=None, padding=(0, 1), expand=True)
    table.add_column("caseworker", style="dim", no_wrap=True)
    table.add_column("load", no_wrap=True)
    table.add_column("", justify="right", no_wrap=True)
    scale = max([r.capacity or 0.0 for r in rows] + [r.load for r in rows] + [1.0])
    for row in rows:
        limit = row.capacity if row.capacity else scale
        style = "red" if row.capacity and row.load > row.capacity else "green"
        cap = f"/{row.capacity:.1f}" if row.capacity else ""
        table.add_row(row.staff_id, Text(bar(row.load, limit), style), f"{row.load:.2f}{cap}")
    return table


def loads_panel(snap: Snapshot) -> Panel:
    """Weighted open caseload per caseworker, as bars against capacity, one column per team."""
    teams: dict[str, list[Load]] = {}
    for row in snap.loads:
        teams.setdefault(row.team, []).append(row)
    grid = Table.grid(expand=True, padding=(0, 2))
    for _ in teams:
        grid.add_column(ratio=1)
    if teams:
        grid.add_row(*(_team_loads(snap, team, rows) for team, rows in sorted(teams.items())))
    else:
        grid.add_row(Text("(no caseload metrics yet)", "dim"))
    return Panel(grid, title="Weighted load per caseworker (bar = share of capacity)", border_style="cyan")


def deadlines_panel(snap: Snapshot) -> Panel:
    """Open legal deadlines by state; breaches so far."""
    table = Table(box=None, padding=(0, 1))
    table.add_column("deadline", style="dim")
    table.add_column("ok", justify="right")
    table.add_column("approaching", justify="right", style="yellow")
    table.add_column("breached", justify="right", style="red")
    for deadline in DEADLINES:
        counts = [f"{snap.deadlines.get((deadline, s), 0):.0f}" for s in STATES]
        table.add_row(DEADLINE_LABELS[deadline], *counts)
    table.add_row(Text("breaches so far", "bold"), "", "", f"{snap.breaches_total:.0f}")
    return Panel(table, title="Deadlines", border_style="cyan")


def notices_panel(snap: Snapshot) -> Panel:
    """The latest messages staff received (email and Teams), newest first."""
    table = Table(box=None, padding=(0, 1), expand=True)
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("via", no_wrap=True)
    table.add_column("to", no_wrap=True, max_width=26, overflow="ellipsis")
    table.add_column("subject", overflow="ellipsis", no_wrap=True, ratio=1)
    for notice in snap.notices:
        table.add_row(_local(snap, notice.at, "%H:%M:%S"), notice.channel, notice.recipient, notice.subject)
    if not snap.notices:
        table.add_row("", "", "", Text("(none yet)", "dim"))
    title = f"Latest notifications ({snap.notices_total} in all)"
    return Panel(table, title=title, border_style="cyan")


def render(snap: Snapshot) -> RenderableType:
    """One frame of the live view."""
    header = Text.assemble(
        ("referral-router", "bold"),
        "  dev stack  ",
        (_local(snap, snap.taken_at, "%Y-%m-%d %H:%M:%S %Z"), "dim"),
        ("   Ctrl-C stops everything", "dim"),
    )
    top = Table.grid(expand=True, padding=(0, 1))
    for ratio in (4, 3, 3):
        top.add_column(ratio=ratio)
    top.add_row(on_duty_panel(snap), referrals_panel(snap), health_panel(snap))
    bottom = Table.grid(expand=True, padding=(0, 1))
    bottom.add_column(ratio=2)
    bottom.add_column(ratio=3)
    bottom.add_row(deadlines_panel(snap), notices_panel(snap))
    problems = [Text(f"! {p}", "red") for p in snap.problems]
    return Group(header, top, loads_panel(snap), bottom, *problems)


def plain_line(snap: Snapshot) -> str:
    """The same, as one log line, for output that is not a terminal."""
    duty = snap.on_duty
    parts = [f"[{_local(snap, snap.taken_at, '%H:%M:%S')}]"]
    if duty is not None:
        parts.append(f"on duty {duty.team} (handover in {duration(duty.period_end - snap.taken_at)})")
    if snap.simulated_at is not None and snap.simulated_on_duty is not None:
        parts.append(f"simulated {_local(snap, snap.simulated_at)}: {snap.simulated_on_duty.team}")
    route = snap.new_referrals
    if route is not None and route.team is not None:
        parts.append(f"new referrals now go to {route.team} ({route.why})")
    ready = sum(v == "ready" for v in snap.health.values())
    parts += [
        f"received {snap.received:.0f}",
        f"assigned {snap.assigned:.0f}",
        f"deadlines approaching {snap.deadline_count('approaching'):.0f}",
        f"breached {snap.deadline_count('breached'):.0f}",
        f"notifications {snap.notices_total}",
        f"services {ready}/{len(snap.health)} ready",
    ]
    return "  ".join(parts)


def screenshot_svg(snap: Snapshot, width: int = 150) -> str:
    """The frame as an SVG image (rich's recording console), for the docs."""
    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    console.print(render(snap))
    return console.export_svg(title="referral-router dev")


Source = Callable[[], Awaitable[Snapshot]]


async def show(
    source: Source,
    *,
    terminal: bool,
    screenshot: Path | None = None,
    screenshot_after_s: float = 30.0,
) -> None:
    """Redraw every second on a terminal (else print a line every few seconds) until cancelled.

    With `screenshot`, write the frame after `screenshot_after_s` seconds as SVG and return.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    if terminal:
        with Live(Text("gathering …"), refresh_per_second=4, screen=False, auto_refresh=False) as live:
            while True:
                snap = await source()
                live.update(render(snap), refresh=True)
                if _take_screenshot(snap, screenshot, loop.time() - started >= screenshot_after_s):
                    return
                await asyncio.sleep(1.0)
    printed_at, first_assignment_seen = -PLAIN_EVERY_S, False
    while True:
        snap = await source()
        first = snap.assigned > 0 and not first_assignment_seen
        # A line every few seconds, and one at once when the first assignment shows.
        if first or loop.time() - printed_at >= PLAIN_EVERY_S:
            print(plain_line(snap), flush=True)
            printed_at, first_assignment_seen = loop.time(), first_assignment_seen or snap.assigned > 0
        if _take_screenshot(snap, screenshot, loop.time() - started >= screenshot_after_s):
            return
        await asyncio.sleep(1.0)


def _take_screenshot(snap: Snapshot, path: Path | None, due: bool) -> bool:
    if path is None or not due:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(screenshot_svg(snap), "utf-8")
    return True
