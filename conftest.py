"""Root conftest: shared fixtures live in tests/fixtures/, one module per real server."""

pytest_plugins = [
    "tests.fixtures.airflow_env",
    "tests.fixtures.simulator",
    "tests.fixtures.s3",
]
