"""The connector contract: the tests every ``AppConnector`` must pass (``conftest.py`` says how a connector joins)."""
