"""The match step of both modes: which records pair up, which are new, which pairs lost a side.

First sync: every record of both sides, matched after the links already known. Incremental: the
changed records; those of linked pairs go to the three-way merge, the others are matched against
candidates looked up on the other side by identity, so a new record links to an existing one
instead of being created twice. In both modes a pair whose record disappeared on one side is
marked deleted there (rule 10) and its surviving record stops syncing: nothing is deleted or
recreated on the other side until the user restores it.

A first sync checks that the state store belongs to the records it sees before trusting its links
(``check_store_belongs``), and hands the links' last synced values to the plan, which merges those
pairs three ways instead of comparing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine import frames, pending_base
from datasync_pipeline.engine.incremental import PAIR_VALUE_COLUMNS, Deletions, MatchedRecords
from datasync_pipeline.engine.match import DUPLICATE_IDENTITY, MatchResult, identity_keys, match_records
from datasync_pipeline.engine.reused_keys import reused_app_keys
from datasync_pipeline.engine.validation import record_schema, split_invalid
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, Identity, ResolvedMapping
from datasync_pipeline.state import pending
from datasync_pipeline.state.store import released_app_id
from datasync_pipeline.sync import extract
from datasync_pipeline.sync.step import ApiCalls, Step, prefixed
from datasync_pipeline.sync.merges import follow_merges
from datasync_pipeline.sync.translate import unmapped_rows
from datasync_pipeline.vocabulary import Side

SYNCED = "synced"
# A store is judged foreign only on this many links at least: a few odd links are handled one by one.
FOREIGN_STORE_MIN_LINKS = 3


def _match(sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, known: pd.DataFrame | None):
    return match_records(
        hubspot, app, OBJECT_TYPES[sync.object].identity, known_pairs=known,
        allow_contacts_without_email=sync.sync_contacts_without_email,
        domain_counts=any(m.hubspot == "domain" and m.is_default for m in mappings),
    )


def _without_deleted(hubspot: pd.DataFrame, app: pd.DataFrame, pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the surviving records of pairs deleted on one side: they wait for a restore."""
    gone = pairs[pairs["status"] != SYNCED]
    return (hubspot[~hubspot["record_id"].isin(gone["hubspot_id"])], app[~app["record_id"].isin(gone["app_id"])])


def validated(sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame):
    """Both sides with their invalid rows taken out, and those rows as failed records (pandera schemas)."""
    identity_fields = frozenset({"email"}) if OBJECT_TYPES[sync.object].identity is Identity.EMAIL else frozenset()
    schema = record_schema(mappings, name=f"{sync.name} {sync.object}", identity_fields=identity_fields)
    # A value the app holds in its own words that found no HubSpot counterpart (``sync/translate.py``) fails first.
    app, unmapped = unmapped_rows(app.reset_index(drop=True))
    hubspot, invalid_hubspot = split_invalid(hubspot.reset_index(drop=True), schema, side="hubspot")
    app, invalid_app = split_invalid(app.reset_index(drop=True), schema, side="app")
    return hubspot, app, pd.concat([frame for frame in (invalid_hubspot, unmapped, invalid_app) if len(frame)] or [invalid_hubspot],
                                   ignore_index=True)


def check_store_belongs(sync_name: str, links: pd.DataFrame, hubspot_ids: pd.Series, app_ids: pd.Series,
                        contradicted: pd.DataFrame) -> None:
    """Refuse a state store whose links describe other records than these, before anything is written.

    A store kept for another database (staging, a restored copy) under the same sync name links ids
    that exist on neither side, or ids that exist but belong to other people. One such link is a
    record to report; most of them mean the store is not this data's, and trusting any of it would
    overwrite records (and mark the rest deleted).
    """
    if links.empty:
        return
    absent = links[~links["hubspot_id"].isin(hubspot_ids) & ~links["app_id"].isin(app_ids)]
    disagreeing = contradicted[contradicted["matched_by"] == "state"]
    wrong = len(absent) + len(disagreeing)
    if wrong < FOREIGN_STORE_MIN_LINKS or 2 * wrong <= len(links):
        return
    example = (disagreeing if len(disagreeing) else absent).iloc[0]
    raise DatasyncError(
        f"sync {sync_name!r}: the state store does not belong to these records, so nothing was written. Of its "
        f"{len(links):,} links, {len(absent):,} point at records that exist on neither side and {len(disagreeing):,} at "
        f"records whose identity differs (e.g. HubSpot {example['hubspot_id']} <-> app {example['app_id']}). Check that "
        f"`state:` and the sync's connections name the databases this sync was set up with; to start the sync afresh "
        f"on these records, forget its state (`datasync sync delete {sync_name}`) and run the first sync again."
    )


def match(step: Step, hubspot: pd.DataFrame, app: pd.DataFrame) -> tuple[MatchedRecords, dict[str, Any]]:
    """``<sync>/matched``: the records of both sides paired (first sync: all of them; incremental: the changed ones and
    their candidates), the deletions found, the invalid rows set apart; and the step's metadata."""
    # A HubSpot merge moves the merged record's link to the survivor, or stops it (``sync/merges.py``).
    merges = follow_merges(step.store, step.sync.name, hubspot, dry_run=step.dry_run)
    if step.incremental:
        calls = ApiCalls(step.client)
        result = match_changes(step.sync, step.mappings, hubspot, app, store=step.store, client=step.client, connector=step.app(),
                               app_watermark=step.watermark(Side.APP), app_overlap=step.settings.app_overlap,
                               check_every_link=step.checks_every_link, merged_away=merges.stopped)
        extra = calls.metadata()
    else:
        result = match_everything(step.sync, step.mappings, hubspot, app, store=step.store, keeps_origins=step.app().keeps_origins)
        extra = {}
    result.deletions.merged = dict(merges.stopped)
    extra.update({"datasync/merges_relinked": len(merges.relinked), "datasync/merges_stopped": len(merges.stopped)})
    return result, {"dagster/row_count": len(result.new.pairs) + len(result.changed_pairs), **prefixed(result.counts), **extra}


def match_everything(sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, *, store,
                     keeps_origins: bool = True) -> MatchedRecords:
    """``keeps_origins``: whether the app's records keep their linked HubSpot id (``AppConnector.keeps_origins``)."""
    present_hubspot, present_app = hubspot["record_id"].astype(str), app["record_id"].astype(str)
    read_app = app
    hubspot, app, invalid = validated(sync, mappings, hubspot, app)
    stored = store.pairs_with_values(sync.name)
    known, reused = _release_reused_keys(sync, mappings, stored, read_app, keeps_origins=keeps_origins)
    synced = known[known["status"] == SYNCED]
    deletions = Deletions(
        in_hubspot=synced.loc[~synced["hubspot_id"].isin(hubspot["record_id"]), "hubspot_id"].tolist(),
        in_app=synced.loc[~synced["app_id"].isin(app["record_id"]) & synced["hubspot_id"].isin(hubspot["record_id"]), "hubspot_id"].tolist()
        + reused.loc[reused["status"] == SYNCED, "hubspot_id"].tolist(),
        reused_app_keys=dict(zip(reused["hubspot_id"], reused["app_id"])),
    )
    newly_gone = synced["hubspot_id"].isin(deletions.in_hubspot + deletions.in_app)
    all_pairs = pd.concat([known[known["status"] != SYNCED], synced[newly_gone].assign(status="deleted")], ignore_index=True)
    hubspot, app = _without_deleted(hubspot, app, all_pairs)
    result = _match(sync, mappings, hubspot, app, synced[~newly_gone])
    # A key reused for another row is a link that disagrees with identity too: many of them mean a foreign store.
    disagreeing = pd.concat([result.contradicted, reused.assign(matched_by="state", explained=False)], ignore_index=True)
    check_store_belongs(sync.name, stored[stored["status"] == SYNCED], present_hubspot, present_app, disagreeing)
    linked, created = _with_pending_writes(store, sync, mappings, result.base, result, hubspot, app)
    result.base = _concat_base(linked, created)
    empty_pairs = pd.DataFrame(columns=PAIR_VALUE_COLUMNS)
    return MatchedRecords("first", result, hubspot, app, empty_pairs, deletions, _with_failed(invalid, result.failed))


def _release_reused_keys(sync: SyncSpec, mappings: list[ResolvedMapping], links: pd.DataFrame,
                         app: pd.DataFrame, *, keeps_origins: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The links (with status and last values), those whose app key another row holds now taken apart from that
    row: deleted in the app, under their released id (``engine/reused_keys.py``); and those links as they were."""
    if not keeps_origins:  # without the origin a reused key cannot be told from an edited row: the link stands
        return links, pd.DataFrame(columns=["hubspot_id", "app_id", "status"], dtype=object)
    reused = reused_app_keys(links[links["app_id"].astype(str).isin(app["record_id"].astype(str))], app,
                             OBJECT_TYPES[sync.object].identity,
                             domain_counts=any(m.hubspot == "domain" and m.is_default for m in mappings))
    if reused.empty:
        return links, reused
    links = links.copy()
    rows = links["hubspot_id"].isin(reused["hubspot_id"])
    links.loc[rows, "app_id"] = [released_app_id(app_id, hubspot_id) for hubspot_id, app_id in links.loc[rows, ["hubspot_id", "app_id"]].itertuples(index=False)]
    links.loc[rows, "status"] = "deleted_in_app"
    return links, reused


def _with_failed(invalid: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    """Rows refused by validation, and records the matching could not sync (a lost identity, a stale reference)."""
    if failed.empty:
        return invalid
    return pd.concat([invalid, failed], ignore_index=True) if len(invalid) else failed.reset_index(drop=True)


def match_changes(
    sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, *, store, client, connector,
    app_watermark, app_overlap: timedelta, check_every_link: bool = False, merged_away: Mapping[str, str] | None = None,
) -> MatchedRecords:
    """``merged_away``: HubSpot ids of linked records merged into a survivor linked already: deleted in HubSpot."""
    hubspot = hubspot.drop_duplicates("record_id", keep="last")
    app = app.drop_duplicates("record_id", keep="last")
    hubspot, app = _as_they_are_now(sync, mappings, hubspot, app, store=store, client=client, connector=connector)
    read_app = app
    hubspot, app, invalid = validated(sync, mappings, hubspot, app)
    deletions = _find_deletions(sync, store, client, connector, app_watermark=app_watermark, app_overlap=app_overlap,
                                check_every_link=check_every_link)
    deletions.in_hubspot += [hubspot_id for hubspot_id in (merged_away or {}) if hubspot_id not in deletions.in_hubspot]
    touched = store.last_values(sync.name, hubspot_ids=hubspot["record_id"], app_ids=app["record_id"])
    touched, reused = _release_reused_keys(sync, mappings, touched, read_app, keeps_origins=connector.keeps_origins)
    deletions.in_app += [h for h in reused.loc[reused["status"] == SYNCED, "hubspot_id"] if h not in deletions.in_app]
    deletions.reused_app_keys = dict(zip(reused["hubspot_id"], reused["app_id"]))
    touched.loc[touched["hubspot_id"].isin(deletions.in_hubspot + deletions.in_app), "status"] = "deleted"
    hubspot, app = _without_deleted(hubspot, app, touched)
    changed_pairs = touched.loc[touched["status"] == SYNCED, PAIR_VALUE_COLUMNS].reset_index(drop=True)

    new_hubspot = hubspot[~hubspot["record_id"].isin(touched["hubspot_id"])]
    new_app = app[~app["record_id"].isin(touched["app_id"])]
    hubspot_candidates, hubspot_taken = _unlinked(store, sync, extract.lookup_in_hubspot(client, sync, mappings, new_app), "hubspot_id", exclude=hubspot)
    app_candidates, app_taken = _unlinked(store, sync, extract.lookup_in_app(connector, sync, mappings, new_hubspot), "app_id", exclude=app)
    # A new record whose identity a linked pair already holds is a duplicate on its own side, as in the first sync.
    linked_app = app[app["record_id"].isin(touched["app_id"])]
    linked_hubspot = hubspot[hubspot["record_id"].isin(touched["hubspot_id"])]
    app_of = dict(zip(touched["hubspot_id"].astype(str), touched["app_id"].astype(str)))
    hubspot_of = dict(zip(touched["app_id"].astype(str), touched["hubspot_id"].astype(str)))
    duplicates = pd.concat([
        _duplicates_of_pairs(sync, mappings, new_app, side="app", holders=[
            (linked_app, linked_app["record_id"].astype(str)),
            (linked_hubspot, linked_hubspot["record_id"].astype(str).map(app_of)),
            (hubspot_taken, hubspot_taken["partner_id"])]),
        _duplicates_of_pairs(sync, mappings, new_hubspot, side="hubspot", holders=[
            (linked_hubspot, linked_hubspot["record_id"].astype(str)),
            (linked_app, linked_app["record_id"].astype(str).map(hubspot_of)),
            (app_taken, app_taken["partner_id"])]),
    ], ignore_index=True)
    new_app = new_app[~new_app["record_id"].isin(duplicates.loc[duplicates["side"] == "app", "record_id"])]
    new_hubspot = new_hubspot[~new_hubspot["record_id"].isin(duplicates.loc[duplicates["side"] == "hubspot", "record_id"])]
    result = _match(sync, mappings, pd.concat([new_hubspot, hubspot_candidates], ignore_index=True),
                    pd.concat([new_app, app_candidates], ignore_index=True), None)
    # Candidates were looked up only to be matched: unmatched, they stay as they are (not created).
    result.hubspot_only = result.hubspot_only[result.hubspot_only["record_id"].isin(new_hubspot["record_id"])].reset_index(drop=True)
    result.app_only = result.app_only[result.app_only["record_id"].isin(new_app["record_id"])].reset_index(drop=True)
    candidates = {("hubspot", r) for r in hubspot_candidates["record_id"]} | {("app", r) for r in app_candidates["record_id"]}
    keep = pd.Series([(side, record_id) not in candidates for side, record_id in result.excluded[["side", "record_id"]].itertuples(index=False)],
                     index=result.excluded.index, dtype=bool)
    result.excluded = pd.concat([result.excluded[keep], duplicates], ignore_index=True)
    failed = result.failed[pd.Series([(side, record_id) not in candidates for side, record_id in result.failed[["side", "record_id"]].itertuples(index=False)],
                                     index=result.failed.index, dtype=bool)]
    invalid = _with_failed(invalid, failed)
    result.counts.update({"hubspot_only": len(result.hubspot_only), "app_only": len(result.app_only)})
    changed_pairs, created = _with_pending_writes(store, sync, mappings, changed_pairs, result,
                                                  pd.concat([hubspot, hubspot_candidates], ignore_index=True),
                                                  pd.concat([app, app_candidates], ignore_index=True))
    result.base = _concat_base(result.base, created)
    return MatchedRecords(
        "incremental", result,
        pd.concat([hubspot, hubspot_candidates], ignore_index=True), pd.concat([app, app_candidates], ignore_index=True),
        changed_pairs, deletions, invalid,
    )


def _as_they_are_now(sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, *,
                     store, client, connector) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The changed records, with both records of every linked pair among them read as they are now.

    A change read misses what search has not indexed yet, or shows its older version, and an app commit stamped
    before the read's start: a pair merged with such a record taken at its last synced values would have that
    unread change overwritten by the other side's. So the pairs' HubSpot records are read again by id (reads by id
    see every write at once; one request per 100) and their app rows not read yet are read by key.
    """
    pairs = store.last_values(sync.name, hubspot_ids=hubspot["record_id"], app_ids=app["record_id"])
    pairs = pairs[pairs["status"] == SYNCED]
    if pairs.empty:
        return hubspot, app
    unread_rows = sorted(set(pairs["app_id"].astype(str)) - set(app["record_id"].astype(str)))
    if unread_rows:
        app = pd.concat([app, connector.read_by_ids(unread_rows)], ignore_index=True)
    ids = sorted(set(pairs["hubspot_id"].astype(str)))
    found = client.batch_read(sync.object, ids, properties=extract.hubspot_properties(sync, mappings)).results
    # A merged-away id answers its survivor: that record is not this pair's (``sync/merges.py`` follows it).
    now = frames.hubspot_frame([record for ref, record in found.items() if str(record.get("id")) == str(ref)], mappings, sync.name,
                               sync.filters.hubspot)
    if now.empty:
        return hubspot, app
    if extract.LATE in hubspot:  # a trailing pass's late candidates stay marked
        late = dict(zip(hubspot["record_id"].astype(str), hubspot[extract.LATE]))
        now[extract.LATE] = [bool(late.get(str(record_id), False)) for record_id in now["record_id"]]
    kept = hubspot[~hubspot["record_id"].astype(str).isin(set(now["record_id"].astype(str)))]
    return pd.concat([kept, now], ignore_index=True), app


def _with_pending_writes(store, sync: SyncSpec, mappings: list[ResolvedMapping], linked: pd.DataFrame, result: MatchResult,
                         hubspot: pd.DataFrame, app: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a run that died after writing left pending (``engine/pending_base.py``).

    Returns the ``linked`` pairs (with their last synced values) taking the values that run wrote as their
    base where the records still hold them, and the base of the new pairs of ``result`` whose record it created
    (found through their origin ids): the values created.
    """
    if len(linked):
        linked = pending_base.with_pending_writes(
            linked, hubspot, app, mappings,
            hubspot_pending=pending.pending(store, sync.name, "hubspot", pending.UPDATE, linked["hubspot_id"]),
            app_pending=pending.pending(store, sync.name, "app", pending.UPDATE, linked["app_id"]))
    new = result.pairs[~result.pairs["hubspot_id"].isin(linked["hubspot_id"]) & ~result.pairs["hubspot_id"].isin(result.base["hubspot_id"])]
    new = new[new["matched_by"] == "origin"]
    created = pending_base.created_pairs_base(
        new, app_creates=pending.pending(store, sync.name, "app", pending.CREATE, new["hubspot_id"]) if len(new) else {},
        hubspot_creates=pending.pending(store, sync.name, "hubspot", pending.CREATE, new["app_id"]) if len(new) else {})
    return linked, created


def _concat_base(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    frames = [frame for frame in (first, second) if len(frame)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else first)


def _unlinked(store, sync: SyncSpec, candidates: pd.DataFrame, id_column: str, *, exclude: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates not linked to anything yet and not already among the changed records; and the linked ones,
    with the id of their partner (``partner_id``)."""
    candidates = candidates[~candidates["record_id"].isin(exclude["record_id"])]
    if candidates.empty:
        return candidates, candidates.assign(partner_id=pd.Series(dtype=object))
    ids = {id_column.removesuffix("_id") + "_ids": candidates["record_id"]}
    pairs = store.last_values(sync.name, **ids)
    partner = "app_id" if id_column == "hubspot_id" else "hubspot_id"
    partner_of = dict(zip(pairs[id_column].astype(str), pairs[partner].astype(str)))
    linked = candidates["record_id"].astype(str).isin(partner_of)
    taken = candidates[linked].assign(partner_id=candidates.loc[linked, "record_id"].astype(str).map(partner_of))
    return candidates[~linked].reset_index(drop=True), taken.reset_index(drop=True)


def _duplicates_of_pairs(sync: SyncSpec, mappings: list[ResolvedMapping], new: pd.DataFrame, *, side: str,
                         holders: list[tuple[pd.DataFrame, pd.Series]]) -> pd.DataFrame:
    """New records of ``side`` sharing an identity key with a linked record: excluded as duplicates of the record
    of their own side that holds that identity already (``holders``: linked records, each with that record's id)."""
    columns = ["side", "record_id", "reason", "detail"]
    holders = [(frame, holder) for frame, holder in holders if len(frame)]
    if new.empty or not holders:
        return pd.DataFrame(columns=columns, dtype=object)
    identity = OBJECT_TYPES[sync.object].identity
    domain_counts = any(m.hubspot == "domain" and m.is_default for m in mappings)
    holder_by_key: dict[str, str] = {}
    for frame, holder in holders:
        for keys in identity_keys(frame, identity, domain_counts=domain_counts):
            holder_by_key.update({key: who for key, who in zip(keys, holder) if key is not None and not pd.isna(key) and isinstance(who, str)})
    rows, seen = [], set()
    for keys in identity_keys(new, identity, domain_counts=domain_counts):
        for record_id, key in zip(new["record_id"], keys):
            if key is not None and not pd.isna(key) and key in holder_by_key and record_id not in seen:
                seen.add(record_id)
                rows.append((side, str(record_id), DUPLICATE_IDENTITY, f"same identity as {holder_by_key[key]}"))
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _find_deletions(sync: SyncSpec, store, client, connector, *, app_watermark, app_overlap: timedelta, check_every_link: bool) -> Deletions:
    """Linked records deleted since the last run.

    Cheap on every run: HubSpot's recycle bin (its size / 100 requests) and app rows soft-deleted among the
    changes. A hard delete in the app leaves nothing to read among the changes: every link is checked
    (one SQL query per 1,000 links, no HubSpot call) in the reconciling runs only.
    """
    archived = extract.archived_in_hubspot(client, sync.object)
    linked_archived = store.last_values(sync.name, hubspot_ids=archived)
    in_hubspot = linked_archived.loc[linked_archived["status"] == SYNCED, "hubspot_id"].tolist()
    soft_deleted = connector.deleted_since(app_watermark - app_overlap)
    if check_every_link:
        synced = store.known_pairs(sync.name, status=SYNCED)
        gone_app = set(connector.deleted_among(synced["app_id"]))
        candidates = synced[synced["app_id"].isin(gone_app)]
    else:
        candidates = store.last_values(sync.name, app_ids=list(soft_deleted))
        candidates = candidates[candidates["status"] == SYNCED]
    in_app = candidates.loc[~candidates["hubspot_id"].isin(in_hubspot), "hubspot_id"].tolist()
    # Soft-deleted rows are read here, not among the changes: the app watermark moves past them too.
    newest = max(soft_deleted.values()) if soft_deleted else None
    return Deletions(in_hubspot=in_hubspot, in_app=in_app, newest_app_deletion=newest)
