"""Shared fixtures: each lives in ``fixtures/`` and is registered here."""

pytest_plugins = [
    "datasync_pipeline_tests.fixtures.postgres",
    "datasync_pipeline_tests.fixtures.sandbox",
]
