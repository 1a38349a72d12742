from tests.e2e.conftest import stack  # noqa: F401 - the same separate-process stack
