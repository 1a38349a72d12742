"""The national statistics file for a simulated year (issue 23, Show 3), on real Postgres.

A year of the portal simulator's referrals is stored through intake's own use case, protection
assessments and decisions are projected as intake's consumer projects them, and the real command
writes the file as CSV and XLSX in a separate process. An independent reader opens each (the
`csv` module, openpyxl); the header is checked against docs/STATISTICS.md, the counts against SQL
counts on intake's tables, and both files against every name, number and id that was stored.
A decision event on a real Kafka-protocol broker reaches the record through intake's consumer.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import re
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from pydantic import SecretStr

from referral_router.referral_mix import ReportMaker
from services.intake.adapters.postgres import PostgresIntakeUnitOfWork
from services.intake.domain.statistics import CaseProgress, StatisticsRecord
from services.intake.handlers.statistics import project_decisions, statistics_for
from services.intake.handlers.submissions import receive_submission
from services.intake.main import MIGRATIONS, SERVICE
from services.intake.schemas import Submission as SubmissionBody
from services.intake.schemas import validation_context
from shared import db
from shared.clock import FixedClock
from shared.events import TOPIC_UPDATED, ReferralUpdated, encode_event, event_key, new_envelope
from shared.settings import DatabaseSettings
from tests.factories import encode
from tests.helpers import eventually, produce
from tests.intake_fakes import keys, new_submission
from tests.integration.intake_support import intake_db, intake_settings, post, running_intake

REPO = Path(__file__).resolve().parents[2]
LOCAL = ZoneInfo("Europe/Stockholm")
YEAR_START = datetime(2026, 1, 1, tzinfo=LOCAL)
SUBMISSIONS = 1800  # about 2,300 referrals: a unit of Mölndal's size (DOMAIN.md §7)
DECISION_WEIGHTS = {"open_investigation": 0.38, "no_investigation": 0.5, "joined_ongoing": 0.12}


def documented_columns() -> list[str]:
    """The column names in docs/STATISTICS.md's table, in order."""
    text = (REPO / "docs" / "STATISTICS.md").read_text("utf-8")
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)


def submitted_times(rng: random.Random) -> Iterator[datetime]:
    """A year of receipt times, and three just outside it (which the file must leave out)."""
    yield datetime(2025, 12, 31, 23, 59, tzinfo=LOCAL)
    yield datetime(2027, 1, 1, 0, 1, tzinfo=LOCAL)
    yield datetime(2027, 1, 1, 0, 0, tzinfo=LOCAL)
    for _ in range(SUBMISSIONS):
        yield YEAR_START + timedelta(seconds=rng.randrange(365 * 24 * 3600))


async def store_year(pool: Any, rng: random.Random) -> list[tuple[dict[str, Any], list[str]]]:
    """Store the submissions through the use case; each body with its referral ids."""
    maker, secrets, clock = ReportMaker(rng), keys(), FixedClock(datetime(2027, 1, 2, tzinfo=UTC))
    context = validation_context(clock.now(), max_age_days=800)
    bodies = [maker.make(at).body for at in submitted_times(rng)]
    limit = asyncio.Semaphore(4)

    async def one(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        raw = encode(body)
        submission = SubmissionBody.model_validate_json(raw, context=context).to_domain()
        async with limit:
            received = await receive_submission(
                PostgresIntakeUnitOfWork(pool), submission, raw, "dev-portal", secrets, clock
            )
        return body, [r.referral_id for r in received.receipt.referrals]

    return list(await asyncio.gather(*(one(b) for b in bodies)))


def decisions_for(stored: list[tuple[dict[str, Any], list[str]]], rng: random.Random) -> list[CaseProgress]:
    """Protection assessments (most, within two days) and decisions (most, within 20 days)."""
    changes: list[CaseProgress] = []
    for body, ids in stored:
        received = datetime.fromisoformat(body["submitted_at"])
        for rid in ids:
            if rng.random() < 0.9:
                changes.append(CaseProgress(rid, received + timedelta(hours=rng.randint(0, 48)), True, None))
            if rng.random() < 0.85:
                decision = rng.choices(list(DECISION_WEIGHTS), weights=list(DECISION_WEIGHTS.values()))[0]
                at = received + timedelta(days=rng.randint(1, 20))
                changes.append(CaseProgress(rid, at, False, decision))
    return changes


def command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`referral-router statistics` as a separate process, as an operator runs it."""
    env = {**os.environ, "DATABASE__URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "referral_router.cli", "statistics", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def run_command(database_url: str, file_format: str, out: Path) -> str:
    """The year 2026 as `file_format` to `out`; what the command said."""
    done = command(
        database_url, "--from", "2026-01-01", "--to", "2026-12-31", "--format", file_format, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def read_xlsx(path: Path) -> list[list[Any]]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = [["" if v is None else v for v in row] for row in book["NUSO"].iter_rows(values_only=True)]
    finally:
        book.close()
    # A row's trailing empty cells are not stored in the sheet: pad to the header's width.
    return [row + [""] * (len(rows[0]) - len(row)) for row in rows]


def xlsx_text(path: Path) -> str:
    """Every part of the XLSX package (a zip of XML), as text."""
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(name).decode("utf-8", "replace") for name in z.namelist())


def personal_strings(stored: list[tuple[dict[str, Any], list[str]]]) -> set[str]:
    """Everything personal or identifying that was stored: numbers (12- and 10-digit forms),
    names, contact details, free text, the portal's ids and the referral ids."""
    found: set[str] = set()
    for body, ids in stored:
        found |= set(ids) | {body["submission_id"], body["concern"]["description"]}
        reporter = body["reporter"]
        found |= {reporter[k] for k in ("name", "organisation", "phone", "email") if reporter.get(k)}
        for person in [*body["children"], *body["guardians"]]:
            number = person.get("personal_number")
            if number:
                found |= {number, number[2:], f"{number[2:8]}-{number[8:]}"}
            if person.get("name"):
                found.add(person["name"])
            if person.get("birth_date"):
                found.add(person["birth_date"])
    return found


async def sql_counts(database_url: str) -> dict[str, Counter[Any]]:
    """The counts the file must agree with, by SQL on intake's tables (the referrals themselves
    where they hold the fact, else the statistics records)."""
    start, end = YEAR_START, datetime(2027, 1, 1, tzinfo=LOCAL)
    period = "received_at >= $1 AND received_at < $2"
    conn = await intake_db(database_url)
    try:

        async def grouped(sql: str) -> Counter[Any]:
            return Counter({r[0]: r[1] for r in await conn.fetch(sql, start, end)})

        return {
            "total": await grouped(f"SELECT 'all', count(*) FROM referrals WHERE {period}"),
            "kind": await grouped(f"SELECT kind, count(*) FROM referrals WHERE {period} GROUP BY 1"),
            "acute": await grouped(
                f"SELECT CASE WHEN acute_danger THEN 'yes' ELSE 'no' END, count(*) FROM referrals"
                f" WHERE {period} GROUP BY 1"
            ),
            "month": await grouped(
                "SELECT to_char(received_at AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM'), count(*)"
                f" FROM referrals WHERE {period} GROUP BY 1"
            ),
            "decision": await grouped(
                f"SELECT coalesce(decision, ''), count(*) FROM statistics_records WHERE {period} GROUP BY 1"
            ),
            "reason": await grouped(
                f"SELECT c, count(*) FROM statistics_records, unnest(categories) c WHERE {period} GROUP BY 1"
            ),
            "sex": await grouped(f"SELECT sex, count(*) FROM statistics_records WHERE {period} GROUP BY 1"),
            "channel": await grouped(
                f"SELECT channel, count(*) FROM statistics_records WHERE {period} GROUP BY 1"
            ),
        }
    finally:
        await conn.close()


def expected_sex_and_age(body: dict[str, Any], index: int) -> tuple[str, int | None]:
    """The test's own reading of a child's sex and age at receipt: from the form's `sex` and
    `birth_date` only (never from the number, DOMAIN.md §5)."""
    child = body["children"][index]
    received = datetime.fromisoformat(body["submitted_at"]).astimezone(LOCAL).date()
    sex = child.get("sex", "unknown")
    if not child.get("birth_date"):
        return sex, None
    born = date.fromisoformat(child["birth_date"])
    if born > received:  # a repeat report dated before the first (the year is drawn unordered)
        return sex, None
    return sex, received.year - born.year - ((received.month, received.day) < (born.month, born.day))


async def sex_and_age_are_the_childs_at_receipt(year: dict[str, Any], database_url: str) -> None:
    conn = await intake_db(database_url)
    try:
        stored = {
            r["referral_id"]: (r["sex"], r["age"])
            for r in await conn.fetch("SELECT * FROM statistics_records")
        }
    finally:
        await conn.close()
    expected = {
        rid: expected_sex_and_age(body, i) for body, ids in year["stored"] for i, rid in enumerate(ids)
    }
    assert stored == expected
    assert {sex for sex, _ in stored.values()} == {"girl", "boy", "other", "unknown"}
    # Most forms gave sex and birth date, so the figures mean something; a child with a number but
    # no birth date has no age (the number is not read).
    assert sum(sex != "unknown" for sex, _ in stored.values()) > 0.8 * len(stored)
    assert sum(age is not None for _, age in stored.values()) > 0.8 * len(stored)
    children = {rid: body["children"][i] for body, ids in year["stored"] for i, rid in enumerate(ids)}
    number_only = [rid for rid, c in children.items() if c.get("personal_number") and not c.get("birth_date")]
    assert number_only and all(stored[rid][1] is None for rid in number_only)


async def steps_by_cell_size(database_url: str) -> dict[int, Counter[int]]:
    """How many of the year's rows end at each generalisation step, per cell size."""
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), SERVICE)
    try:
        return {
            k: Counter(
                r.step
                for r in await statistics_for(
                    PostgresIntakeUnitOfWork(pool), date(2026, 1, 1), date(2026, 12, 31), k
                )
            )
            for k in (3, 5, 10)
        }
    finally:
        await pool.close()


@pytest.fixture
async def year(database_url: str) -> dict[str, Any]:
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        rng = random.Random(2026)
        stored = await store_year(pool, rng)
        changes = decisions_for(stored, rng)
        for n in range(0, len(changes), 500):
            uow = PostgresIntakeUnitOfWork(pool)
            async with uow:
                await project_decisions(uow, changes[n : n + 500])
                await uow.commit()
    finally:
        await pool.close()
    return {"stored": stored, "changes": changes}


async def test_the_statistics_file_for_a_simulated_year_agrees_with_the_database_and_names_no_one(
    year, database_url, tmp_path
):
    stored, changes = year["stored"], year["changes"]
    csv_path, xlsx_path = tmp_path / "nuso-2026.csv", tmp_path / "nuso-2026.xlsx"
    said = run_command(database_url, "csv", csv_path)
    run_command(database_url, "xlsx", xlsx_path)

    from_csv, from_xlsx = read_csv(csv_path), read_xlsx(xlsx_path)
    columns = documented_columns()
    assert len(columns) == 12 and from_csv[0] == columns and from_xlsx[0] == columns
    # The two formats carry the same cells (CSV as text, XLSX with numbers as numbers).
    assert [[str(v) for v in row] for row in from_xlsx] == from_csv
    rows = [dict(zip(columns, row, strict=True)) for row in from_csv[1:]]

    counts = await sql_counts(database_url)
    in_year = sum(len(ids) for body, ids in stored[3:])
    assert counts["total"]["all"] == len(rows) == in_year > 2000
    assert said.startswith(f"{len(rows)} referrals received")
    assert [r["row"] for r in rows] == [str(n) for n in range(1, len(rows) + 1)]
    for column, key in (("kind", "kind"), ("acute_danger", "acute"), ("received_month", "month"),
                        ("decision", "decision"), ("channel", "channel")):  # fmt: skip
        assert Counter(r[column] for r in rows) == counts[key], column
    assert Counter(c for r in rows for c in r["reason_categories"].split(";")) == counts["reason"]
    assert len(counts["month"]) == 12 and set(counts["kind"]) == {"report", "application"}
    # Sex is suppressed in small cells only: each value is published at most as often as stored,
    # and what is missing is among the suppressed.
    published_sex = Counter(r["sex"] for r in rows)
    for sex, n in counts["sex"].items():
        assert n - published_sex["suppressed"] <= published_sex[sex] <= n
    # The decisions and lead times are the ones projected (the first assessment of each).
    received_of = {
        rid: datetime.fromisoformat(body["submitted_at"]) for body, ids in stored[3:] for rid in ids
    }

    def days(rid: str, at: datetime) -> str:
        return str((at.astimezone(LOCAL).date() - received_of[rid].astimezone(LOCAL).date()).days)

    decided = {
        c.referral_id: (c.decision, days(c.referral_id, c.at))
        for c in changes
        if c.decision and c.referral_id in received_of
    }
    assessed: dict[str, str] = {}
    for c in changes:
        if c.protection_assessed and c.referral_id in received_of:
            assessed.setdefault(c.referral_id, days(c.referral_id, c.at))
    assert Counter((r["decision"], r["decision_days"]) for r in rows if r["decision"]) == Counter(
        decided.values()
    )
    assert Counter(
        r["protection_assessment_days"] for r in rows if r["protection_assessment_days"]
    ) == Counter(assessed.values())

    # Nothing personal or identifying in either file.
    csv_text, package = csv_path.read_text("utf-8-sig"), xlsx_text(xlsx_path)
    secrets_ = personal_strings(stored)
    assert not [s for s in secrets_ if s in csv_text or s in package]
    assert not re.search(r"\d{6}[-+]?\d{4}", csv_text)
    conn = await intake_db(database_url)
    try:
        table = " ".join(r[0] for r in await conn.fetch("SELECT s::text FROM statistics_records s"))
    finally:
        await conn.close()
    # The record keeps its referral id and instants (a birth date may equal a receipt date).
    kept = {rid for _, ids in stored for rid in ids}
    assert not [s for s in secrets_ - kept if s in table and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)]
    # The records' sex and age are the child's at receipt, as the test reads them itself.
    await sex_and_age_are_the_childs_at_receipt(year, database_url)

    # Suppression at the default cell size: no published combination is rarer than 5.
    combos = Counter((r["received_month"], r["sex"], r["age"], r["reporter_category"]) for r in rows)
    assert all(n >= 5 for key, n in combos.items() if key[1:] != ("suppressed",) * 3)
    suppressed = sum(r["sex"] == "suppressed" for r in rows)
    banded = sum("-" in r["age"] or r["age"] == "18+" for r in rows)
    print(
        f"\nNUSO file: {len(rows)} rows, {banded} with an age band, {suppressed} with sex and age suppressed"
    )
    # docs/STATISTICS.md's table: rows per suppression step at cell sizes 3, 5 and 10.
    for k, steps in (await steps_by_cell_size(database_url)).items():
        print(f"--min-cell {k}: rows per step 0-4: {[steps[n] for n in range(5)]}")


async def test_a_decision_on_the_broker_reaches_the_statistics_record_through_intakes_consumer(
    database_url, kafka_broker, topic_prefix, tmp_path
):
    from tests.factories import submission

    settings = intake_settings(database_url, kafka_broker, topic_prefix)
    async with running_intake(settings) as intake:
        answer = await post(intake, submission(submitted_at=datetime.now(UTC) - timedelta(minutes=1)))
        assert answer.status_code == 202, answer.text
        rid = answer.json()["referrals"][0]["referral_id"]
        now = datetime.now(UTC)
        decided = ReferralUpdated(
            referral_id=rid, family_key="fam-1", status="closed", at=now, decision="no_investigation"
        )
        event = new_envelope("referral.decided", decided, producer="assignment", correlation_id=rid)
        # Sent twice: a redelivery is found in the inbox and changes nothing.
        record = (event_key(event), encode_event(event))
        await produce(kafka_broker.bootstrap, topic_prefix + TOPIC_UPDATED, [record, record])

        async def decision() -> tuple[Any, ...]:
            conn = await intake_db(database_url)
            try:
                row = await conn.fetchrow(
                    "SELECT decision, decided_at FROM statistics_records WHERE referral_id = $1", rid
                )
                inbox = await conn.fetchval(
                    "SELECT count(*) FROM inbox WHERE message_id = $1", str(event.event_id)
                )
            finally:
                await conn.close()
            return (row["decision"], row["decided_at"], inbox)

        assert await eventually(decision, lambda d: d[0] is not None, timeout_s=30) == (
            "no_investigation",
            now,
            1,
        )


async def test_the_command_refuses_a_backward_period_a_missing_directory_and_a_database_without_records(
    database_url, tmp_path
):
    def run(*args: str, out: Path = tmp_path / "nuso.csv") -> subprocess.CompletedProcess[str]:
        return command(database_url, *args, "--format", "csv", "--out", str(out))

    backward = run("--from", "2026-02-01", "--to", "2026-01-31")
    assert backward.returncode == 2 and "ends before it starts" in backward.stderr
    missing = run("--from", "2026-01-01", "--to", "2026-01-31", out=tmp_path / "missing" / "nuso.csv")
    assert missing.returncode == 2 and "no directory" in missing.stderr
    # A database intake never migrated: a clear word, no traceback, no file.
    empty = run("--from", "2026-01-01", "--to", "2026-01-31")
    assert empty.returncode == 2 and "migration 011" in empty.stderr and "Traceback" not in empty.stderr
    assert list(tmp_path.iterdir()) == []


async def test_a_hand_made_month_comes_out_of_the_command_suppressed_as_docs_statistics_md_says(
    database_url, tmp_path
):
    """The worked example of docs/STATISTICS.md, stored in Postgres and written by the command."""
    spec = [
        ("school", "girl", 9), ("school", "girl", 9), ("school", "girl", 9),
        ("school", "girl", 7), ("school", "girl", 8), ("school", "girl", 11),
        ("police", "boy", 15), ("police", "boy", 16), ("health_care", "boy", 14),
        ("police", "girl", 4), ("relative", "unknown", 2), ("school", "other", 10),
    ]  # fmt: skip
    march = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    pool = await db.create_pool(DatabaseSettings(url=SecretStr(database_url)), SERVICE)
    try:
        await db.apply_migrations(pool, SERVICE, MIGRATIONS)
        for n, (who, sex, age) in enumerate(spec):
            new = new_submission()
            record = StatisticsRecord(
                new.referrals[0].referral_id, march + timedelta(days=n), "report", "e_service", who,
                ("neglect",), False, sex, age,
            )  # fmt: skip
            async with PostgresIntakeUnitOfWork(pool) as uow:
                assert await uow.submissions.add(replace(new, statistics=(record,)), []) is None
                await uow.commit()
    finally:
        await pool.close()

    out = tmp_path / "march.xlsx"
    done = command(database_url, "--from", "2026-03-01", "--to", "2026-03-31", "--format", "xlsx",
                   "--out", str(out), "--min-cell", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, *rows = read_xlsx(out)
    cells = [dict(zip(header, row, strict=True)) for row in rows]
    gone = ("suppressed", "suppressed", "suppressed")
    assert [(c["reporter_category"], c["sex"], c["age"]) for c in cells] == [
        *[("school", "girl", 9)] * 3, *[("school", "girl", "6-12")] * 3,
        *[("mandatory_reporter", "boy", "13-17")] * 3, gone, gone, gone,
    ]  # fmt: skip
    assert {c["received_month"] for c in cells} == {"2026-03"}
