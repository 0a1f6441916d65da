"""Connectors: the apps a sync connects, each one package behind one interface.

- ``base``       the ``AppConnector`` interface every app side implements, ``SideBinding``, ``WriteResult``
- ``registry``   connectors by `kind`: config model, Dagster resource
- ``hubspot``    HubSpot: a sync's HubSpot side, and a second portal as an app side
- ``sql``        any SQLAlchemy database table as an app side
"""
