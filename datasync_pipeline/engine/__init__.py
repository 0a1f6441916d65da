"""The sync engine: plain pandas, no Dagster. Normalise values, match records, plan the writes.

Frames in the engine have a ``record_id`` column (str) and one column per synced field, named by
the HubSpot property, on both sides: the app side is renamed from its columns by the mappings
before it reaches the engine, so every comparison is column against column.
"""
