"""Property values checked against the portal's reference data: owners and pipeline stages.

``hubspot_owner_id`` must name an active owner (HubSpot answers ``INVALID_OWNER_ID`` otherwise); a deal's
``dealstage`` must be a stage of its ``pipeline`` and a ticket's ``hs_pipeline_stage`` one of its
``hs_pipeline`` (``INVALID_OPTION``), where the pipeline is the one the write names, else the record's,
else the portal's default. Problems use HubSpot's property-values error shape, like every other bad value.
"""

from __future__ import annotations

from typing import Any

from datasync_pipeline.sandbox.association_labels import AssociationLabels
from datasync_pipeline.sandbox.errors import property_values_error
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.owners import Owners
from datasync_pipeline.sandbox.pipelines import PIPELINE_PROPERTIES, Pipelines


def _problem(name: str, code: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name}


class ReferenceChecks:
    def __init__(self, owners: Owners, pipelines: Pipelines, labels: AssociationLabels) -> None:
        self.owners = owners
        self.pipelines = pipelines
        self.labels = labels

    def check(self, object_type: ObjectType, written: dict[str, str | None], current: dict[str, str]) -> None:
        """Refuse a write whose owner or stage the portal does not have; ``current`` is the record before it."""
        problems = []
        owner = written.get("hubspot_owner_id")
        if owner is not None and owner not in self.owners.active_ids():
            problems.append(_problem("hubspot_owner_id", "INVALID_OWNER_ID", f"{owner} is not a valid owner id"))
        names = PIPELINE_PROPERTIES.get(object_type.name)
        if names is not None and (names.pipeline in written or names.stage in written):
            problems.extend(self._stage_problems(object_type, names.pipeline, names.stage, {**current, **written}))
        if problems:
            raise property_values_error(problems)

    def _stage_problems(self, object_type: ObjectType, pipeline_name: str, stage_name: str, values: dict[str, Any]) -> list:
        stages = self.pipelines.stage_ids(object_type.name)
        pipeline = values.get(pipeline_name) or self.pipelines.default_pipeline_id(object_type.name)
        if pipeline not in stages:
            options = ", ".join(sorted(stages))
            return [_problem(pipeline_name, "INVALID_OPTION", f"{pipeline} was not one of the allowed options: [{options}]")]
        stage = values.get(stage_name)
        if stage is not None and stage not in stages[pipeline]:
            return [_problem(stage_name, "INVALID_OPTION",
                             f"{stage} is not a valid stage of pipeline {pipeline}; allowed options: [{', '.join(sorted(stages[pipeline]))}]")]
        return []
