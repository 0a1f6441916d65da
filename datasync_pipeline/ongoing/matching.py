"""The matched step of both modes: which records pair up, which are new, which pairs lost a side.

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

import pandas as pd

from datasync_pipeline.config.model import SyncSpec
from datasync_pipeline.engine.incremental import PAIR_VALUE_COLUMNS, Deletions, MatchedRecords
from datasync_pipeline.engine.match import DUPLICATE_IDENTITY, identity_keys, match_records
from datasync_pipeline.errors import DatasyncError
from datasync_pipeline.engine.validation import record_schema, split_invalid
from datasync_pipeline.objects.catalogue import OBJECT_TYPES, Identity, ResolvedMapping
from datasync_pipeline.engine import frames
from datasync_pipeline.ongoing import changes
from datasync_pipeline.state import echoes

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
    hubspot, invalid_hubspot = split_invalid(hubspot.reset_index(drop=True), schema, side="hubspot")
    app, invalid_app = split_invalid(app.reset_index(drop=True), schema, side="app")
    return hubspot, app, pd.concat([invalid_hubspot, invalid_app], ignore_index=True)


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


def _with_last_values(store, sync: SyncSpec, links: pd.DataFrame) -> pd.DataFrame:
    """The links with the values each side held after the last sync (the base of the three-way merge)."""
    if links.empty:
        return links.assign(hubspot_values=None, app_values=None)
    values = store.last_values(sync.name, hubspot_ids=links["hubspot_id"])[["hubspot_id", "app_id", "hubspot_values", "app_values"]]
    return links[["hubspot_id", "app_id"]].merge(values, on=["hubspot_id", "app_id"], how="left")


def match_everything(sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, *, store) -> MatchedRecords:
    present_hubspot, present_app = hubspot["record_id"].astype(str), app["record_id"].astype(str)
    hubspot, app, invalid = validated(sync, mappings, hubspot, app)
    known = store.known_pairs(sync.name)
    synced = known[known["status"] == SYNCED]
    deletions = Deletions(
        in_hubspot=synced.loc[~synced["hubspot_id"].isin(hubspot["record_id"]), "hubspot_id"].tolist(),
        in_app=synced.loc[~synced["app_id"].isin(app["record_id"]) & synced["hubspot_id"].isin(hubspot["record_id"]), "hubspot_id"].tolist(),
    )
    newly_gone = synced["hubspot_id"].isin(deletions.in_hubspot + deletions.in_app)
    all_pairs = pd.concat([known[known["status"] != SYNCED], synced[newly_gone].assign(status="deleted")], ignore_index=True)
    hubspot, app = _without_deleted(hubspot, app, all_pairs)
    result = _match(sync, mappings, hubspot, app, _with_last_values(store, sync, synced[~newly_gone]))
    check_store_belongs(sync.name, synced, present_hubspot, present_app, result.contradicted)
    empty_pairs = pd.DataFrame(columns=PAIR_VALUE_COLUMNS)
    return MatchedRecords("first", result, hubspot, app, empty_pairs, deletions, _with_failed(invalid, result.failed))


def _with_failed(invalid: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    """Rows refused by validation, and records the matching could not sync (a lost identity, a stale reference)."""
    if failed.empty:
        return invalid
    return pd.concat([invalid, failed], ignore_index=True) if len(invalid) else failed.reset_index(drop=True)


def match_changes(
    sync: SyncSpec, mappings: list[ResolvedMapping], hubspot: pd.DataFrame, app: pd.DataFrame, *, store, client, connector,
    app_watermark, check_every_link: bool = False,
) -> MatchedRecords:
    hubspot = hubspot.drop_duplicates("record_id", keep="last")
    app = app.drop_duplicates("record_id", keep="last")
    hubspot, app, invalid = validated(sync, mappings, hubspot, app)
    deletions = _find_deletions(sync, store, client, connector, app_watermark=app_watermark, check_every_link=check_every_link)
    touched = store.last_values(sync.name, hubspot_ids=hubspot["record_id"], app_ids=app["record_id"])
    touched.loc[touched["hubspot_id"].isin(deletions.in_hubspot + deletions.in_app), "status"] = "deleted"
    hubspot, app = _without_deleted(hubspot, app, touched)
    changed_pairs = touched.loc[touched["status"] == SYNCED, PAIR_VALUE_COLUMNS].reset_index(drop=True)
    changed_pairs = _our_writes_as_base(store, sync, changed_pairs, hubspot, app, [m.hubspot for m in mappings])

    new_hubspot = hubspot[~hubspot["record_id"].isin(touched["hubspot_id"])]
    new_app = app[~app["record_id"].isin(touched["app_id"])]
    hubspot_candidates, hubspot_taken = _unlinked(store, sync, changes.lookup_in_hubspot(client, sync, mappings, new_app), "hubspot_id", exclude=hubspot)
    app_candidates, app_taken = _unlinked(store, sync, changes.lookup_in_app(connector, sync, mappings, new_hubspot), "app_id", exclude=app)
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
    return MatchedRecords(
        "incremental", result,
        pd.concat([hubspot, hubspot_candidates], ignore_index=True), pd.concat([app, app_candidates], ignore_index=True),
        changed_pairs, deletions, invalid,
    )


def _our_writes_as_base(store, sync: SyncSpec, pairs: pd.DataFrame, hubspot: pd.DataFrame, app: pd.DataFrame,
                        fields: list[str]) -> pd.DataFrame:
    """A record that still carries exactly the time our last write left on it has not changed since that write:
    the fields that write set hold our values, and they are the base of those fields in the three-way merge.

    Normally the base holds them already; after a run that wrote and died before its checkpoint it does not
    (the base is older), and without this the dead run's write would count as a change made by a user and
    overrule a real change made on the other side meanwhile. Only the fields written: another field changed
    on that record before our write is still a change to sync.
    """
    if pairs.empty:
        return pairs
    pairs = pairs.copy()
    for side, frame, id_column in (("hubspot", hubspot, "hubspot_id"), ("app", app, "app_id")):
        if frames.MODIFIED_AT not in frame or frame.empty:
            continue
        current = frame.drop_duplicates("record_id")
        stamps = current.set_index(current["record_id"].astype(str))[frames.MODIFIED_AT].dropna()
        wanted = stamps[stamps.index.isin(pairs[id_column].astype(str))]
        ours = echoes.written_by_our_last_write(store, sync.name, side, {record_id: stamp.to_pydatetime() for record_id, stamp in wanted.items()})
        if not ours:
            continue
        rows = pairs[id_column].astype(str).isin(ours)
        pairs.loc[rows, f"{side}_values"] = pd.Series(
            [{**(base or {}), **{name: value for name, value in ours[record_id].items() if name in fields}}
             for record_id, base in zip(pairs.loc[rows, id_column].astype(str), pairs.loc[rows, f"{side}_values"])],
            index=pairs.index[rows], dtype=object)
    return pairs


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


def _find_deletions(sync: SyncSpec, store, client, connector, *, app_watermark, check_every_link: bool) -> Deletions:
    """Linked records deleted since the last run.

    Cheap on every run: HubSpot's recycle bin (its size / 100 requests) and app rows soft-deleted among the
    changes. A hard delete in the app leaves nothing to read among the changes: every link is checked
    (one SQL query per 1,000 links, no HubSpot call) in the reconciling runs only.
    """
    archived = changes.archived_in_hubspot(client, sync.object)
    linked_archived = store.last_values(sync.name, hubspot_ids=archived)
    in_hubspot = linked_archived.loc[linked_archived["status"] == SYNCED, "hubspot_id"].tolist()
    soft_deleted = connector.read_soft_deleted_stamps_since(app_watermark - changes.APP_OVERLAP)
    if check_every_link:
        synced = store.known_pairs(sync.name, status=SYNCED)
        gone_app = set(connector.read_deleted(synced["app_id"]))
        candidates = synced[synced["app_id"].isin(gone_app)]
    else:
        candidates = store.last_values(sync.name, app_ids=list(soft_deleted))
        candidates = candidates[candidates["status"] == SYNCED]
    in_app = candidates.loc[~candidates["hubspot_id"].isin(in_hubspot), "hubspot_id"].tolist()
    # Soft-deleted rows are read here, not among the changes: the app watermark moves past them too.
    newest = max(soft_deleted.values()).to_pydatetime() if soft_deleted else None
    return Deletions(in_hubspot=in_hubspot, in_app=in_app, newest_app_deletion=newest)
