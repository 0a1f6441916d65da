"""The steps of a sync in plain code, over the connector interface (``connectors/base.py``)."""
