"""Values the app holds in its own words: value maps, owners by email, pipelines and stages by label.

A mapping may say that the app holds something else than HubSpot's value (``values``, ``lookup`` in
``datasync.yaml``):

- ``values: {app value: HubSpot value}``: an enumeration's options under the app's names. Read the other way for
  writes to the app (where two app values name one HubSpot value, the first listed is written);
- ``lookup: owner_email`` on ``hubspot_owner_id``: the app holds the owner's email (or "First Last"), HubSpot the
  owner id (``GET /crm/v3/owners``);
- ``lookup: label`` on a pipeline and a stage property (``pipeline``/``dealstage``, ``hs_pipeline``/
  ``hs_pipeline_stage``): the app holds labels, HubSpot ids (``GET /crm/v3/pipelines/{type}``). A stage label is
  looked up within the record's pipeline (two pipelines may both have a "Won" stage); a record without a pipeline
  is in the object's first pipeline, as HubSpot puts it.

The translation sits at the app's edge (``TranslatingSide``, wrapping the app's connector): the engine sees and
compares HubSpot's values on both sides, and the app gets its own words back on every write. Text is compared
ignoring case and surrounding space. A value with no counterpart is never guessed: read from the app, its record
fails validation with ``unmapped_value`` (the rest of the batch goes on, its pair stays linked); written to the
app, the write of that record fails with the same category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasync_pipeline.connectors.base import REFERENCE, AppConnector, WriteResult
from datasync_pipeline.engine.frames import has_value
from datasync_pipeline.errors import ErrorCategory, RecordError
from datasync_pipeline.objects.catalogue import OWNER_PROPERTY, PIPELINE_PROPERTIES, ResolvedMapping

UNMAPPED = "_unmapped"  # per app record read: why a value found no HubSpot counterpart (None: all found)
OWNER_EMAIL, LABEL = "owner_email", "label"


def _key(value: Any) -> str:
    return str(value).strip().casefold()


@dataclass
class FieldWords:
    """One translated field: the app's words to HubSpot's values and back."""

    field: str  # the engine field (HubSpot property)
    app_field: str  # the app's name for it, for messages
    how: str  # "values", "owner_email", "label"
    to_hubspot: dict[Any, str] = field(default_factory=dict)  # key (text, or (pipeline id, text) for stages) -> HubSpot value
    to_app: dict[Any, str] = field(default_factory=dict)  # HubSpot value -> app value
    stage: bool = False  # a stage: looked up within its record's pipeline
    pipeline_field: str | None = None  # stages: the engine field holding the record's pipeline id, where mapped
    default_pipeline: str | None = None  # stages: the pipeline of a record without one
    ambiguous: set[str] = field(default_factory=set)  # owners: names more than one owner has

    def hubspot_value(self, value: Any, pipeline: Any = None) -> str | None:
        """The HubSpot value of an app value, None where it has none."""
        if self.stage:
            return self.to_hubspot.get((str(pipeline) if has_value(pipeline) else self.default_pipeline, _key(value)))
        return self.to_hubspot.get(_key(value))

    def app_value(self, value: Any) -> str | None:
        return self.to_app.get(str(value))

    def unmapped(self, value: Any, *, to_app: bool) -> str:
        where = {"values": "the mapping's `values`", OWNER_EMAIL: "the HubSpot owners", LABEL: "the pipelines' labels"}[self.how]
        if to_app:
            return f"HubSpot value {value!r} of {self.field} has no app value for {self.app_field} in {where}"
        if _key(value) in self.ambiguous:
            return f"{self.app_field} {value!r} names more than one HubSpot owner: hold the owner's email instead"
        return f"{self.app_field} {value!r} has no HubSpot value for {self.field} in {where}"


@dataclass
class Translation:
    """Every translated field of one sync, with the reference data its lookups read (once per run)."""

    fields: list[FieldWords]

    @property
    def empty(self) -> bool:
        return not self.fields

    @classmethod
    def of(cls, mappings: Sequence[ResolvedMapping], object_type: str, client: Any) -> Translation:
        """The translation of ``mappings``; ``client`` (the sync's HubSpot account) is asked for owners and pipelines
        only when a mapping looks them up."""
        translated = [m for m in mappings if m.translated]
        owners = client.list_owners() if any(m.lookup == OWNER_EMAIL for m in translated) else []
        pipelines = client.get_pipelines(object_type) if any(m.lookup == LABEL for m in translated) else []
        pipeline_property, stage_property = PIPELINE_PROPERTIES.get(object_type, (None, None))
        mapped = {m.hubspot for m in mappings}
        fields = []
        for mapping in translated:
            words = FieldWords(mapping.hubspot, mapping.app, "values" if mapping.values is not None else mapping.lookup)
            if mapping.values is not None:
                for app_value, hubspot_value in mapping.values.items():
                    words.to_hubspot.setdefault(_key(app_value), str(hubspot_value))
                    words.to_app.setdefault(str(hubspot_value), str(app_value))
            elif mapping.lookup == OWNER_EMAIL and mapping.hubspot == OWNER_PROPERTY:
                _owner_words(words, owners)
            elif mapping.lookup == LABEL and mapping.hubspot == pipeline_property:
                for pipeline in pipelines:
                    words.to_hubspot.setdefault(_key(pipeline["label"]), str(pipeline["id"]))
                    words.to_app[str(pipeline["id"])] = pipeline["label"]
            elif mapping.lookup == LABEL and mapping.hubspot == stage_property:
                words.stage, words.pipeline_field = True, (pipeline_property if pipeline_property in mapped else None)
                ordered = sorted(pipelines, key=lambda p: (p.get("displayOrder", 0), str(p["id"])))
                words.default_pipeline = str(ordered[0]["id"]) if ordered else None
                for pipeline in pipelines:
                    for stage in pipeline.get("stages") or []:
                        words.to_hubspot.setdefault((str(pipeline["id"]), _key(stage["label"])), str(stage["id"]))
                        words.to_app[str(stage["id"])] = stage["label"]
            fields.append(words)
        return cls(fields)

    # --- the app's records read: HubSpot's values, and what found none ------------------------------------
    def frame_to_hubspot(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each translated field in HubSpot's values and an ``_unmapped`` column naming the values
        that found none (kept as read, so the record can be named and failed)."""
        if frame.empty or self.empty:
            return frame.assign(**{UNMAPPED: pd.Series([None] * len(frame), index=frame.index, dtype=object)})
        frame = frame.copy()
        problems: list[list[str]] = [[] for _ in range(len(frame))]
        # Pipelines before stages: a stage is looked up in its record's pipeline, translated first.
        for words in sorted(self.fields, key=lambda w: w.stage):
            if words.field not in frame:
                continue
            # Without a pipeline mapped, every record is in the object's first pipeline.
            pipelines = frame[words.pipeline_field] if words.pipeline_field in frame else pd.Series([None] * len(frame), index=frame.index)
            translated = []
            for position, (value, pipeline) in enumerate(zip(frame[words.field], pipelines)):
                if not has_value(value):
                    translated.append(None)
                    continue
                found = words.hubspot_value(value, pipeline)
                if found is None:
                    problems[position].append(words.unmapped(value, to_app=False))
                    translated.append(value)
                else:
                    translated.append(found)
            frame[words.field] = pd.Series(translated, index=frame.index, dtype=object)
        frame[UNMAPPED] = pd.Series(["; ".join(found) if found else None for found in problems], index=frame.index, dtype=object)
        return frame

    # --- writes to the app: the app's words, or a failure --------------------------------------------------
    def values_to_app(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """A record's engine values in the app's words, and why not where a value has no app counterpart."""
        translated = dict(values)
        for words in self.fields:
            if words.field in translated and has_value(translated[words.field]):
                found = words.app_value(translated[words.field])
                if found is None:
                    return translated, words.unmapped(translated[words.field], to_app=True)
                translated[words.field] = found
        return translated, None

    def values_to_lookup(self, field_name: str, values: Iterable[str]) -> list[str]:
        """Lookup values (HubSpot's) in the app's words, for a lookup by a translated field."""
        words = next((w for w in self.fields if w.field == field_name), None)
        if words is None:
            return list(values)
        return [found for value in values if (found := words.app_value(value)) is not None]


def _owner_words(words: FieldWords, owners: Sequence[Mapping[str, Any]]) -> None:
    """Owners by email, and by "First Last" where no other owner has that name; written back as the email."""
    names: dict[str, list[str]] = {}
    for owner in owners:
        owner_id = str(owner["id"])
        if owner.get("email"):
            words.to_hubspot[_key(owner["email"])] = owner_id
            words.to_app[owner_id] = owner["email"]
        name = " ".join(part for part in (owner.get("firstName"), owner.get("lastName")) if part)
        if name:
            names.setdefault(_key(name), []).append(owner_id)
    for name, ids in names.items():
        if len(ids) == 1:
            words.to_hubspot.setdefault(name, ids[0])
        else:
            words.ambiguous.add(name)


class TranslatingSide:
    """The app's connector, speaking HubSpot's values to the engine (``Translation``); everything else passes through."""

    def __init__(self, inner: AppConnector, translation: Translation) -> None:
        self.inner, self.translation = inner, translation

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def keeps_origins(self) -> bool:
        return self.inner.keeps_origins

    def read_all(self) -> pd.DataFrame:
        return self.translation.frame_to_hubspot(self.inner.read_all())

    def read_changed_since(self, since: Any) -> pd.DataFrame:
        return self.translation.frame_to_hubspot(self.inner.read_changed_since(since))

    def read_by_ids(self, record_ids: Iterable[str]) -> pd.DataFrame:
        return self.translation.frame_to_hubspot(self.inner.read_by_ids(record_ids))

    def lookup(self, field_name: str, values: Iterable[str]) -> pd.DataFrame:
        return self.translation.frame_to_hubspot(self.inner.lookup(field_name, self.translation.values_to_lookup(field_name, values)))

    def create(self, records: Sequence[Mapping[str, Any]]) -> WriteResult:
        result, writable = WriteResult(), []
        for record in records:
            translated, problem = self.translation.values_to_app(record)
            if problem is None:
                writable.append(translated)
            else:
                result.fail(str(record[REFERENCE]), RecordError(ErrorCategory.UNMAPPED_VALUE, problem))
        return result.merge(self.inner.create(writable)) if writable else result

    def update(self, records: Mapping[str, Mapping[str, Any]], *, origins: Mapping[str, str] | None = None) -> WriteResult:
        result, writable = WriteResult(), {}
        for record_id, values in records.items():
            translated, problem = self.translation.values_to_app(values)
            if problem is None:
                writable[record_id] = translated
            else:
                result.fail(str(record_id), RecordError(ErrorCategory.UNMAPPED_VALUE, problem))
        kept_origins = {record_id: hubspot_id for record_id, hubspot_id in (origins or {}).items() if record_id not in result.failed}
        if writable or kept_origins:
            result.merge(self.inner.update(writable, origins=kept_origins))
        return result


def translating(side: AppConnector, translation: Translation | None) -> AppConnector:
    """``side`` as the engine should see it: wrapped where the sync translates values."""
    return side if translation is None or translation.empty else TranslatingSide(side, translation)


def unmapped_rows(app: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The app records whose values all found HubSpot counterparts (without the ``_unmapped`` column), and the others
    as failed rows (side, record_id, category, detail)."""
    columns = ["side", "record_id", "category", "detail"]
    if UNMAPPED not in app:
        return app, pd.DataFrame(columns=columns)
    bad = app[UNMAPPED].notna()
    failed = pd.DataFrame({"side": "app", "record_id": app.loc[bad, "record_id"].astype(str).values,
                           "category": str(ErrorCategory.UNMAPPED_VALUE), "detail": app.loc[bad, UNMAPPED].values}, columns=columns)
    return app.loc[~bad].drop(columns=[UNMAPPED]), failed
