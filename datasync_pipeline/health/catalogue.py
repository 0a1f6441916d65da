"""What each failure and exclusion means, and what a RevOps user does about it.

Every failed record carries an ``ErrorCategory``; every excluded one a reason from the matcher. The
health views (``datasync health``, the ``no_failed_records`` asset check) show the counts by category
with the guide below, so a user can go from "12 failed" to the fix without reading logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasync_pipeline.engine.match import DUPLICATE_IDENTITY, NO_UNIQUE_IDENTITY, OUTSIDE_FILTERS
from datasync_pipeline.errors import ErrorCategory


@dataclass(frozen=True)
class Guide:
    title: str
    explanation: str
    steps: tuple[str, ...]

    def steps_for(self, sync: str) -> list[str]:
        """The steps with the sync's name where a command needs it."""
        return [step.replace("--sync NAME", f"--sync {sync}") for step in self.steps]


def _restore_steps(target: str, where: str) -> tuple[str, ...]:
    return (
        f"To bring the record back in {where}, preview what would be restored: "
        f"`datasync restore --sync NAME --target {target} --preview`, then run it without `--preview`.",
        "Nothing was deleted on the other side: the record there stays as it was and stops syncing until restored (rule 10).",
        "If the deletion was intended, leave it: the pair keeps showing here as a reminder.",
    )


CATEGORY_GUIDES: dict[ErrorCategory, Guide] = {
    ErrorCategory.INVALID_EMAIL: Guide(
        "Invalid email address",
        "The receiving app refused the record because its email address is not valid.",
        ("Open the source record named in the message and fix the email address (typos, spaces, missing domain).",
         "The record is tried again automatically when it changes; nothing else to do."),
    ),
    ErrorCategory.INVALID_PROPERTY_VALUE: Guide(
        "Invalid property value",
        "A value does not fit the target field: not one of its options, wrong number or date format, too long, or read-only.",
        ("The message names the field and the value: correct the value in the source record,",
         "or add the missing option to the HubSpot property / widen the app column,",
         "or switch the mapping off if the field should not sync. The record is retried when it changes."),
    ),
    ErrorCategory.UNMAPPED_VALUE: Guide(
        "Value without a counterpart",
        "A mapped value has nothing to become on the other side: it is missing from the mapping's `values`, or names "
        "no HubSpot owner, pipeline or stage.",
        ("The message names the field, the value and the mapping: add the value under the mapping's `values` in datasync.yaml,",
         "or create the owner (a HubSpot user with that email), pipeline or stage in HubSpot, or correct the source record.",
         "The record is retried when it changes or on the next run after the fix."),
    ),
    ErrorCategory.UNKNOWN_PROPERTY: Guide(
        "Unknown property or column",
        "A mapping names a HubSpot property or an app column that does not exist on the target.",
        ("Create the property in HubSpot (Settings > Properties) or the column in the app table,",
         "or fix the mapping in datasync.yaml (`mappings:`) so it names an existing one.",
         "Then run the sync again; the records are written on the next change or run."),
    ),
    ErrorCategory.MISSING_REQUIRED_FIELD: Guide(
        "Missing required field",
        "The target needs a value the source record does not have (a required property or a NOT NULL column).",
        ("Fill the field named in the message in the source record,",
         "or map another field to it, or make it optional on the target. The record is retried when it changes."),
    ),
    ErrorCategory.DUPLICATE_ON_OTHER_SIDE: Guide(
        "Duplicate on the other side",
        "The record already exists on the target (same unique value), so creating it was refused.",
        ("The message names the existing record (for HubSpot: its id).",
         "Merge the two records on the target, or give one of them a different unique value,",
         "so the next run links the record to the existing one instead of creating it."),
    ),
    ErrorCategory.DELETED_IN_HUBSPOT: Guide(
        "Deleted in HubSpot",
        "The linked HubSpot record was deleted; the app record is kept and no longer syncs.",
        _restore_steps("hubspot", "HubSpot"),
    ),
    ErrorCategory.DELETED_IN_APP: Guide(
        "Deleted in the app",
        "The linked app record was deleted; the HubSpot record is kept and no longer syncs.",
        _restore_steps("app", "the app"),
    ),
    ErrorCategory.LINK_CONTRADICTS_IDENTITY: Guide(
        "Link contradicts identity",
        "A record of the other side refers to this one (its datasync_id in HubSpot, or its id in the app's external-id "
        "column) but is not its match: their identities differ (another email, SKU or name), or it is linked to another "
        "record. The reference is not trusted: writing through it would overwrite someone else's record.",
        ("The message names the record holding the stale reference. Usually it was synced with another database or "
         "portal (a staging copy) under the same sync name.",
         "Clear that reference: empty the `datasync_id` property of the HubSpot record, or the external-id column "
         "(e.g. `hubspot_id`) of the app row.",
         "The next run then matches the record by its identity, or creates it on the other side."),
    ),
    ErrorCategory.NOT_FOUND: Guide(
        "Record not found",
        "The record to update no longer exists on the target (deleted or merged away since the last run).",
        ("Check whether the record was merged into another one on the target.",
         "The next hourly reconciling run marks it deleted; restore it then with `datasync restore` if it is needed."),
    ),
    ErrorCategory.RATE_LIMITED: Guide(
        "Rate limited after retries",
        "HubSpot kept answering 429 (too many requests) after the client's own retries.",
        ("Nothing is lost: the record is retried by later runs with backoff.",
         "Lower `max_concurrency` of the HubSpot connection in datasync.yaml,",
         "check which other integrations share the account's API limit (HubSpot: Settings > Integrations > Private apps / Connected apps),",
         "and set `tier:` to the account's real subscription tier, or upgrade it (API limit increase)."),
    ),
    ErrorCategory.MISSING_PERMISSION: Guide(
        "Missing permission",
        "The HubSpot token lacks a scope this sync needs (the message names the scopes).",
        ("Add the scopes named in the message to the private app (HubSpot: Settings > Integrations > Private apps > Scopes),",
         "for the app side: grant the database user the rights on the table,",
         "then run the sync again; the records are written by the next run."),
    ),
    ErrorCategory.AUTHENTICATION: Guide(
        "Authentication failed",
        "HubSpot or the database refused the credentials: the token was revoked or expired, or the password changed.",
        ("Create a new token (or password) and set the environment variable the connection names (e.g. ${HUBSPOT_TOKEN}),",
         "restart the Dagster daemon and webserver so they read it, then run the sync again."),
    ),
    ErrorCategory.ASSOCIATION_FAILED: Guide(
        "Association failed",
        "The record synced, but its link to an associated record (e.g. its company) could not be written.",
        ("Check that the associated object has a sync too and that the associated record is synced (not failed or excluded),",
         "and that the association column names an existing record. The association is retried when either record changes."),
    ),
    ErrorCategory.SERVER_ERROR: Guide(
        "Server error after retries",
        "HubSpot answered with a server error (5xx) or timed out, even after retries.",
        ("Nothing is lost: the record is retried by later runs with backoff.",
         "If it persists, check https://status.hubspot.com and the connection's `base_url`."),
    ),
    ErrorCategory.DATABASE_ERROR: Guide(
        "Database error",
        "The app database refused or failed the write (locked table, trigger, connection lost, constraint).",
        ("The message gives the database's reason. Transient problems are retried by later runs with backoff.",
         "If it repeats: check the table's triggers, locks and constraints, and the database user's rights."),
    ),
    ErrorCategory.UNKNOWN: Guide(
        "Unclassified error",
        "The write failed for a reason datasync does not classify yet.",
        ("Read the message (and the run's logs in the Dagster UI) for the cause; the record is retried by later runs.",
         "Please report the message so it gets a category of its own."),
    ),
}

EXCLUSION_GUIDES: dict[str, Guide] = {
    NO_UNIQUE_IDENTITY: Guide(
        "No unique identity",
        "The record has nothing to match it by (for contacts: no valid email address), so it is not synced (rule 5).",
        ("Add a valid email address to the record: it takes part in the next run,",
         "or switch `sync_contacts_without_email: true` on for the sync to sync contacts without one."),
    ),
    OUTSIDE_FILTERS: Guide(
        "Outside the filters",
        "The record does not meet the sync's filters for its side, so the first sync left it out (rule 7).",
        ("Intended: nothing to do.",
         "Otherwise change the record so it meets the filters, or widen `filters:` for the sync in datasync.yaml."),
    ),
    DUPLICATE_IDENTITY: Guide(
        "Duplicate identity",
        "Another record of the same app has the same identity (e.g. the same email); only the one with the lowest id takes part.",
        ("The message names the record that was kept: merge the duplicates in that app,",
         "or give each a distinct identity; the next run then syncs it."),
    ),
}


def guide_for(category: str) -> Guide:
    """The guide of a failure category or an exclusion reason; a generic one for anything new."""
    if category in EXCLUSION_GUIDES:
        return EXCLUSION_GUIDES[category]
    try:
        return CATEGORY_GUIDES[ErrorCategory(category)]
    except ValueError:
        return Guide(category.replace("_", " ").capitalize(), "Not in the catalogue yet.", CATEGORY_GUIDES[ErrorCategory.UNKNOWN].steps)
