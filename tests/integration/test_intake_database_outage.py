"""Postgres stopped: intake answers 503 with Retry-After, stores nothing half, and a retry works."""

from __future__ import annotations

import pytest

from referral_router.devinfra.postgres import LocalPostgres
from referral_router.devinfra.procs import free_port
from tests.conftest import create_database
from tests.factories import submission
from tests.helpers import eventually
from tests.integration.intake_support import counts, intake_settings, post, running_intake


@pytest.fixture
def private_postgres(tmp_path):
    server = LocalPostgres(tmp_path / "data", free_port(), fsync=False)
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")


async def test_with_postgres_stopped_a_post_is_503_and_the_portals_retry_succeeds_once_it_is_back(
    private_postgres, kafka_broker, topic_prefix
):
    database_url = await create_database(private_postgres.url(), "outage")
    body = submission(children=2)
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix)) as intake:
        assert (await post(intake, submission())).status_code == 202
        private_postgres.stop("immediate")

        refused = await post(intake, body)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"] == "application/problem+json"

        private_postgres.start()
        retried = await eventually(lambda: post(intake, body), lambda r: r.status_code != 503, timeout_s=30)
        assert retried.status_code == 202, retried.text
        assert len(retried.json()["referrals"]) == 2
        assert (await post(intake, body)).status_code == 200
    assert await counts(database_url) == {
        "submissions": 2,
        "personal_details": 2,
        "referrals": 3,
        "outbox": 3,
    }


async def test_a_submission_while_postgres_has_crashed_leaves_nothing_stored_and_its_retry_stores_all(
    private_postgres, kafka_broker, topic_prefix
):
    database_url = await create_database(private_postgres.url(), "crash")
    body = submission(children=20)
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix)) as intake:
        private_postgres.kill()
        assert (await post(intake, body)).status_code == 503
        private_postgres.start()
        stored = await counts(database_url)
        assert stored["submissions"] == 0 and stored["referrals"] == 0 and stored["outbox"] == 0
        retried = await eventually(lambda: post(intake, body), lambda r: r.status_code != 503, timeout_s=30)
        assert retried.status_code == 202
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 20,
        "outbox": 20,
    }


SLOW_OUTBOX = """
CREATE FUNCTION intake.slow_outbox() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;
CREATE TRIGGER slow_outbox BEFORE INSERT ON intake.outbox FOR EACH ROW EXECUTE FUNCTION intake.slow_outbox();
"""


async def test_postgres_crashing_in_the_middle_of_a_submission_leaves_nothing_half_stored(
    private_postgres, kafka_broker, topic_prefix
):
    import asyncio

    import asyncpg

    database_url = await create_database(private_postgres.url(), "midway")
    body = submission(children=3)
    async with running_intake(intake_settings(database_url, kafka_broker, topic_prefix)) as intake:
        admin = await asyncpg.connect(database_url)
        # The statement storing the submission waits in its first outbox row (the trigger's
        # sleep: pg_stat_activity shows only the statement's first 1024 bytes, so its text is
        # matched by its start).
        await admin.execute(SLOW_OUTBOX)
        pending = asyncio.create_task(post(intake, body))
        await eventually(
            lambda: admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%INSERT INTO submissions%'"
                " AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
            ),
            lambda n: n == 1,
        )
        await admin.close()
        private_postgres.kill()
        assert (await pending).status_code == 503

        private_postgres.start()
        assert await counts(database_url) == {
            "submissions": 0,
            "personal_details": 0,
            "referrals": 0,
            "outbox": 0,
        }
        admin = await asyncpg.connect(database_url)
        await admin.execute("DROP TRIGGER slow_outbox ON intake.outbox")
        await admin.close()
        retried = await eventually(lambda: post(intake, body), lambda r: r.status_code != 503, timeout_s=30)
        assert retried.status_code == 202
    assert await counts(database_url) == {
        "submissions": 1,
        "personal_details": 1,
        "referrals": 3,
        "outbox": 3,
    }
