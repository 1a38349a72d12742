"""The `kafka` marker that `make test KAFKA=apache` selects by (tests/conftest.py).

Each case runs a small pytest session in a subprocess with the repository's conftest hooks and
fixtures, and reads which tests `-m kafka` collects or how a run ends. `kafka_flavour` stands in
for `kafka_broker` (the same rule covers both), so no broker starts here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

CONFTEST = "from tests.conftest import *  # noqa: F403\n"

FILES = {
    "test_plain.py": """
        def test_pure_logic():
            assert 1 + 1 == 2
    """,
    "test_flavour_param.py": """
        def test_asks_for_the_flavour(kafka_flavour):
            assert kafka_flavour in ("tansu", "apache")
    """,
    "test_through_a_fixture.py": """
        import pytest

        @pytest.fixture
        def world(kafka_flavour):
            return kafka_flavour

        @pytest.fixture
        def outer(world):
            return world

        def test_two_fixtures_away(outer):
            assert outer

        def test_without_the_fixture():
            assert True
    """,
    "test_module_reads_flavour.py": """
        from tests.conftest import KAFKA_FLAVOUR

        def test_reads_the_module_constant():
            assert KAFKA_FLAVOUR
    """,
    "test_marked_param.py": """
        import pytest

        @pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.kafka)])
        def flavour(request):
            return request.param

        def test_both(flavour):
            assert flavour
    """,
}


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(CONFTEST)
    for name, body in FILES.items():
        pytester.makepyfile(**{name.removesuffix(".py"): textwrap.dedent(body)})
    return pytester


def collected(result: pytest.RunResult) -> set[str]:
    """The collected tests as `file::test`. Node ids are relative to the rootdir, which is the
    repository when the suite's directory lies inside it (`make test`'s basetemp is `.pytest-tmp/`)
    and the suite's own directory otherwise: keep the file name and what follows."""
    return {line.strip().rsplit("/", 1)[-1] for line in result.outlines if "::" in line}


def test_minus_m_kafka_collects_exactly_the_tests_that_reach_the_broker(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-m", "kafka", "--collect-only", "-q", "-p", "no:cacheprovider")

    assert collected(result) == {
        "test_flavour_param.py::test_asks_for_the_flavour",
        "test_through_a_fixture.py::test_two_fixtures_away",
        "test_module_reads_flavour.py::test_reads_the_module_constant",
        "test_marked_param.py::test_both[real]",
    }


def test_without_the_marker_filter_every_test_is_collected(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")

    assert len(collected(result)) == 7


def test_a_test_asking_for_the_broker_at_run_time_without_the_marker_fails_naming_the_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_dynamic=textwrap.dedent("""
            import pytest

            def test_unmarked(request):
                assert request.getfixturevalue("kafka_flavour")

            @pytest.mark.kafka
            def test_marked(request):
                assert request.getfixturevalue("kafka_flavour")
        """)
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_unmarked*carries no 'kafka' marker*"])
    assert "test_marked reached" not in result.stdout.str()
