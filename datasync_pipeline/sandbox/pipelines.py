"""Deal and ticket pipelines with their stages, and which stage a record may be in.

Modelled on HubSpot's pipelines API (``/crm/v3/pipelines/{objectType}``; guide "CRM API | Pipelines"):
- every portal starts with one pipeline per type: deals ``default`` ("Sales Pipeline", seven stages from
  ``appointmentscheduled`` to ``closedwon``/``closedlost``), tickets ``0`` ("Support Pipeline", stages ``1``-``4``);
- pipelines and stages are created, read, replaced (PUT), updated (PATCH) and archived (DELETE); a pipeline
  has at least one stage; a deal stage carries ``metadata.probability`` (0.0-1.0) and a ticket stage
  ``metadata.ticketState`` (OPEN or CLOSED), both required when one is created;
- a record's stage must belong to its pipeline: ``dealstage`` to ``pipeline``, ``hs_pipeline_stage`` to
  ``hs_pipeline`` (legacy pipelines overview: "if you're setting a stage that is not in the default pipeline,
  you'll also need to set the pipeline property that lines up with that stage"); stages of custom pipelines
  are valid as soon as they exist.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datasync_pipeline.sandbox import store
from datasync_pipeline.sandbox.errors import HubSpotError, not_found, validation_error
from datasync_pipeline.sandbox.timestamps import now_milliseconds, to_iso


@dataclass(frozen=True)
class PipelineProperties:
    """Which record properties hold a type's pipeline and stage, and what a stage's metadata must say."""

    pipeline: str
    stage: str
    metadata_field: str


PIPELINE_PROPERTIES = {
    "deals": PipelineProperties("pipeline", "dealstage", "probability"),
    "tickets": PipelineProperties("hs_pipeline", "hs_pipeline_stage", "ticketState"),
}

_DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"), ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"), ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"), ("closedwon", "Closed Won", "1.0"), ("closedlost", "Closed Lost", "0.0"),
)
_TICKET_STAGES = (("1", "New", "OPEN"), ("2", "Waiting on contact", "OPEN"), ("3", "Waiting on us", "OPEN"), ("4", "Closed", "CLOSED"))


def _stage(stage_id: str, label: str, display_order: int, metadata: dict[str, str], stamp: str) -> dict[str, Any]:
    return {"id": stage_id, "label": label, "displayOrder": display_order, "metadata": metadata,
            "createdAt": stamp, "updatedAt": stamp, "archived": False, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}


def _default_pipelines(stamp: str) -> dict[str, dict[str, Any]]:
    deal_stages = [
        _stage(stage_id, label, index, {"isClosed": str(stage_id.startswith("closed")).lower(), "probability": probability}, stamp)
        for index, (stage_id, label, probability) in enumerate(_DEAL_STAGES)
    ]
    ticket_stages = [
        _stage(stage_id, label, index, {"ticketState": state}, stamp)
        for index, (stage_id, label, state) in enumerate(_TICKET_STAGES)
    ]
    return {
        "deals": {"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "stages": deal_stages,
                  "createdAt": stamp, "updatedAt": stamp, "archived": False},
        "tickets": {"id": "0", "label": "Support Pipeline", "displayOrder": 0, "stages": ticket_stages,
                    "createdAt": stamp, "updatedAt": stamp, "archived": False},
    }


def _kind(object_type: str) -> str:
    return f"pipelines:{object_type}"


class Pipelines:
    """The portal's pipelines per object type, kept in the store."""

    def __init__(self, record_store: store.Store) -> None:
        self._store = record_store
        self._lock = threading.RLock()
        self.on_change: Callable[[], None] = lambda: None
        stamp = to_iso(now_milliseconds())
        with self._store.transaction() as connection:
            for object_type, pipeline in _default_pipelines(stamp).items():
                if not store.load_reference(connection, _kind(object_type)):
                    store.put_reference(connection, _kind(object_type), pipeline["id"], pipeline)

    @staticmethod
    def properties_of(object_type: str) -> PipelineProperties:
        found = PIPELINE_PROPERTIES.get(object_type)
        if found is None:
            raise validation_error(f"Pipelines exist for deals and tickets only, not {object_type}.")
        return found

    def all(self, object_type: str) -> list[dict[str, Any]]:
        self.properties_of(object_type)
        with self._store.reading() as connection:
            return list(store.load_reference(connection, _kind(object_type)).values())

    def get(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        for pipeline in self.all(object_type):
            if pipeline["id"] == pipeline_id:
                return pipeline
        raise not_found(f"Unable to find pipeline {pipeline_id} for object type {object_type}.",
                        context={"pipelineId": [pipeline_id]})

    def stage_ids(self, object_type: str) -> dict[str, set[str]]:
        """Each pipeline's stage ids: ``{pipeline_id: {stage_id}}``."""
        if object_type not in PIPELINE_PROPERTIES:
            return {}
        return {pipeline["id"]: {stage["id"] for stage in pipeline["stages"]} for pipeline in self.all(object_type)}

    def default_pipeline_id(self, object_type: str) -> str:
        return min(self.all(object_type), key=lambda pipeline: pipeline["displayOrder"])["id"]

    # Writing ---------------------------------------------------------------------------------------

    def create(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new pipeline from ``{label, displayOrder, stages: [{label, displayOrder, metadata}]}``."""
        properties = self.properties_of(object_type)
        stamp = to_iso(now_milliseconds())
        stages = body.get("stages") or []
        if not body.get("label"):
            raise validation_error("A pipeline needs a label.")
        if not stages:
            raise validation_error("A pipeline needs at least one stage.")
        with self._lock:
            self._refuse_taken_label(object_type, str(body["label"]), None)
            pipeline = {
                "id": str(body.get("id") or uuid.uuid4()), "label": str(body["label"]),
                "displayOrder": int(body.get("displayOrder") or 0),
                "stages": [self._new_stage(properties, stage, stamp) for stage in stages],
                "createdAt": stamp, "updatedAt": stamp, "archived": False,
            }
            self._refuse_duplicate_stage_labels(pipeline)
            self._save(object_type, pipeline)
        return pipeline

    def replace(self, object_type: str, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the pipeline's label, order and stages become the body's (stages keep ids they name)."""
        with self._lock:
            current = self.get(object_type, pipeline_id)
            if not body.get("label") or not body.get("stages"):
                raise validation_error("Replacing a pipeline needs its label and at least one stage.")
            properties = self.properties_of(object_type)
            stamp = to_iso(now_milliseconds())
            self._refuse_taken_label(object_type, str(body["label"]), pipeline_id)
            pipeline = {**current, "label": str(body["label"]), "displayOrder": int(body.get("displayOrder") or 0),
                        "stages": [self._new_stage(properties, stage, stamp) for stage in body["stages"]], "updatedAt": stamp}
            self._refuse_duplicate_stage_labels(pipeline)
            self._save(object_type, pipeline)
        return pipeline

    def update(self, object_type: str, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: label, displayOrder and archived only (stages have their own endpoints)."""
        with self._lock:
            pipeline = dict(self.get(object_type, pipeline_id))
            if body.get("label") is not None:
                self._refuse_taken_label(object_type, str(body["label"]), pipeline_id)
                pipeline["label"] = str(body["label"])
            if body.get("displayOrder") is not None:
                pipeline["displayOrder"] = int(body["displayOrder"])
            pipeline["updatedAt"] = to_iso(now_milliseconds())
            self._save(object_type, pipeline)
        return pipeline

    def archive(self, object_type: str, pipeline_id: str) -> None:
        with self._lock:
            self.get(object_type, pipeline_id)
            if len(self.all(object_type)) == 1:
                raise validation_error("A portal keeps at least one pipeline per object type.")
            with self._store.transaction() as connection:
                store.delete_reference(connection, _kind(object_type), pipeline_id)
            self.on_change()

    def stage(self, object_type: str, pipeline_id: str, stage_id: str) -> dict[str, Any]:
        for stage in self.get(object_type, pipeline_id)["stages"]:
            if stage["id"] == stage_id:
                return stage
        raise not_found(f"Unable to find stage {stage_id} in pipeline {pipeline_id}.", context={"stageId": [stage_id]})

    def add_stage(self, object_type: str, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            pipeline = dict(self.get(object_type, pipeline_id))
            stage = self._new_stage(self.properties_of(object_type), body, to_iso(now_milliseconds()))
            if stage["id"] in {existing["id"] for existing in pipeline["stages"]}:
                raise HubSpotError(409, "CONFLICT", f"A stage with id {stage['id']} already exists in pipeline {pipeline_id}.")
            pipeline["stages"] = [*pipeline["stages"], stage]
            self._refuse_duplicate_stage_labels(pipeline)
            self._save(object_type, pipeline)
        return stage

    def change_stage(self, object_type: str, pipeline_id: str, stage_id: str, body: dict[str, Any], *, replace: bool) -> dict[str, Any]:
        with self._lock:
            pipeline = dict(self.get(object_type, pipeline_id))
            current = self.stage(object_type, pipeline_id, stage_id)
            properties = self.properties_of(object_type)
            if replace:
                changed = self._new_stage(properties, {**body, "id": stage_id}, to_iso(now_milliseconds()))
                changed["createdAt"] = current["createdAt"]
            else:
                changed = dict(current)
                if body.get("label") is not None:
                    changed["label"] = str(body["label"])
                if body.get("displayOrder") is not None:
                    changed["displayOrder"] = int(body["displayOrder"])
                if body.get("metadata") is not None:
                    changed["metadata"] = {**current["metadata"], **{key: str(value) for key, value in body["metadata"].items()}}
                changed["updatedAt"] = to_iso(now_milliseconds())
            pipeline["stages"] = [changed if stage["id"] == stage_id else stage for stage in pipeline["stages"]]
            self._refuse_duplicate_stage_labels(pipeline)
            self._save(object_type, pipeline)
        return changed

    def archive_stage(self, object_type: str, pipeline_id: str, stage_id: str) -> None:
        with self._lock:
            pipeline = dict(self.get(object_type, pipeline_id))
            self.stage(object_type, pipeline_id, stage_id)
            if len(pipeline["stages"]) == 1:
                raise validation_error("A pipeline keeps at least one stage.")
            pipeline["stages"] = [stage for stage in pipeline["stages"] if stage["id"] != stage_id]
            self._save(object_type, pipeline)

    def _save(self, object_type: str, pipeline: dict[str, Any]) -> None:
        with self._store.transaction() as connection:
            store.put_reference(connection, _kind(object_type), pipeline["id"], pipeline)
        self.on_change()

    def _refuse_taken_label(self, object_type: str, label: str, pipeline_id: str | None) -> None:
        for pipeline in self.all(object_type):
            if pipeline["label"] == label and pipeline["id"] != pipeline_id:
                raise HubSpotError(409, "CONFLICT", f"A pipeline labelled '{label}' already exists.")

    @staticmethod
    def _refuse_duplicate_stage_labels(pipeline: dict[str, Any]) -> None:
        labels = [stage["label"] for stage in pipeline["stages"]]
        if len(labels) != len(set(labels)):
            raise validation_error("Stage labels must be unique within a pipeline.")

    @staticmethod
    def _new_stage(properties: PipelineProperties, body: Any, stamp: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("label"):
            raise validation_error("Every stage needs a label.")
        metadata = {key: str(value) for key, value in (body.get("metadata") or {}).items()}
        needed = properties.metadata_field
        if needed not in metadata:
            raise validation_error(f"Every {properties.stage} stage needs metadata.{needed}.")
        if needed == "probability":
            try:
                probability = float(metadata[needed])
            except ValueError as problem:
                raise validation_error("metadata.probability must be a number between 0.0 and 1.0.") from problem
            if not 0.0 <= probability <= 1.0:
                raise validation_error("metadata.probability must be a number between 0.0 and 1.0.")
            metadata.setdefault("isClosed", str(probability in (0.0, 1.0)).lower())
        elif metadata[needed] not in {"OPEN", "CLOSED"}:
            raise validation_error("metadata.ticketState must be OPEN or CLOSED.")
        return _stage(str(body.get("id") or uuid.uuid4()), str(body["label"]), int(body.get("displayOrder") or 0),
                      metadata, stamp)
