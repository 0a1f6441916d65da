"""The Dagster wiring: resources, the per-sync asset factory, jobs. Logic lives in engine/ and connectors/."""
