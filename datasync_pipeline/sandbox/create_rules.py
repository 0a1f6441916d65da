"""What a create must carry, per object type, and the values HubSpot fills in when it does not.

Modelled on HubSpot's object guides and its live answers:
- activities (notes, calls, emails, meetings, tasks) need ``hs_timestamp``, "the activity's time of creation",
  which places it on the record timeline (the notes, calls, emails, meetings and tasks guides mark it required);
  a note without it gets ``400 VALIDATION_ERROR "Error creating NOTE.  Some required properties were not set."``
  with ``context.properties: ["hs_timestamp"]`` (the body quoted in HubSpot/hubspot-api-nodejs#124);
- tickets need ``subject`` and ``hs_pipeline_stage``; ``hs_pipeline`` falls back to the default pipeline when it is
  not given (tickets guide: "If a pipeline isn't specified, the default pipeline will be used");
- deals fall back to the default pipeline the same way (legacy pipelines overview: on an account with one
  pipeline "the pipeline property for any object will automatically be set to default").
"""

from __future__ import annotations

from datasync_pipeline.sandbox.errors import HubSpotError
from datasync_pipeline.sandbox.object_types import ObjectType

_ACTIVITY = ("hs_timestamp",)

REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "notes": _ACTIVITY,
    "calls": _ACTIVITY,
    "emails": _ACTIVITY,
    "meetings": _ACTIVITY,
    "tasks": _ACTIVITY,
    "tickets": ("subject", "hs_pipeline_stage"),
}

# The pipeline a record lands in when a create names none: the portal's default pipeline of the type.
# Set only when the create names a stage: the stage is what places the record in a pipeline.
DEFAULT_PIPELINES: dict[str, tuple[str, str, str]] = {
    "tickets": ("hs_pipeline", "hs_pipeline_stage", "0"),
    "deals": ("pipeline", "dealstage", "default"),
}


def with_default_pipeline(object_type: ObjectType, values: dict[str, str]) -> dict[str, str]:
    """The create's values, with the default pipeline filled in when a stage is given without one."""
    rule = DEFAULT_PIPELINES.get(object_type.name)
    if rule is None:
        return values
    pipeline, stage, default = rule
    if values.get(stage) and not values.get(pipeline):
        return {**values, pipeline: default}
    return values


def missing_required(object_type: ObjectType, values: dict[str, str]) -> HubSpotError | None:
    """HubSpot's 400 for a create without its required properties, or None when all are there."""
    missing = [name for name in REQUIRED_ON_CREATE.get(object_type.name, ()) if not values.get(name)]
    if not missing:
        return None
    return HubSpotError(
        400, "VALIDATION_ERROR", f"Error creating {object_type.singular}.  Some required properties were not set.",
        context={"properties": missing},
    )
