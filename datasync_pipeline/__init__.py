"""datasync: a self-hosted HubSpot Data Sync, built as a Dagster project.

Layout (each folder is one concern):
- ``config``      the sync configuration file (``datasync.yaml``), validated with pydantic
- ``connectors``  plain classes that talk to HubSpot (httpx) and SQL apps (SQLAlchemy Core)
- ``sandbox``     an emulator of HubSpot's CRM API, embedded in-process or served on loopback
- ``engine``      the sync logic in pandas (normalise, match, merge, plan): no Dagster import
- ``state``       the state store linking HubSpot ids to app ids
- ``defs``        the Dagster wiring: resources, the asset factory, jobs
- ``cli``         the ``datasync`` command
"""
