"""Sync health (rule 12): what each failure means, the object view, the record view, health over time.

Plain modules reading the state store and Dagster's run history; the CLI and the asset checks call them.
"""
