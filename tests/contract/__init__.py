"""Port contract tests: each port's suite runs against its in-memory fake and its Postgres adapter.

This package is also an (empty) migrations package, so the shared ports' suite can give its
test schema the inbox and outbox every service schema has.
"""
