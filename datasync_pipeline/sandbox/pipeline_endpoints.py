"""``/crm/v3/pipelines/{objectType}``: pipelines and their stages over HTTP (the rules live in ``pipelines``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import json_response
from datasync_pipeline.sandbox.http_input import read_body, resolve_object_type
from datasync_pipeline.sandbox.request_shapes import PIPELINE, PIPELINE_STAGE

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox


def _type(object_type: str) -> str:
    return resolve_object_type(object_type).name


def list_pipelines(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    return json_response({"results": sandbox.pipelines.all(_type(object_type))})


def create_pipeline(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    return json_response(sandbox.pipelines.create(_type(object_type), read_body(request, PIPELINE)), status=201)


def get_pipeline(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    return json_response(sandbox.pipelines.get(_type(object_type), pipeline_id))


def replace_pipeline(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    return json_response(sandbox.pipelines.replace(_type(object_type), pipeline_id, read_body(request, PIPELINE)))


def update_pipeline(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    return json_response(sandbox.pipelines.update(_type(object_type), pipeline_id, read_body(request, PIPELINE)))


def archive_pipeline(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    sandbox.pipelines.archive(_type(object_type), pipeline_id)
    return Response(status=204)


def list_stages(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    return json_response({"results": sandbox.pipelines.get(_type(object_type), pipeline_id)["stages"]})


def create_stage(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str) -> Response:
    stage = sandbox.pipelines.add_stage(_type(object_type), pipeline_id, read_body(request, PIPELINE_STAGE))
    return json_response(stage, status=201)


def get_stage(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str, stage_id: str) -> Response:
    return json_response(sandbox.pipelines.stage(_type(object_type), pipeline_id, stage_id))


def replace_stage(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str, stage_id: str) -> Response:
    body = read_body(request, PIPELINE_STAGE)
    return json_response(sandbox.pipelines.change_stage(_type(object_type), pipeline_id, stage_id, body, replace=True))


def update_stage(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str, stage_id: str) -> Response:
    body = read_body(request, PIPELINE_STAGE)
    return json_response(sandbox.pipelines.change_stage(_type(object_type), pipeline_id, stage_id, body, replace=False))


def archive_stage(sandbox: Sandbox, request: Request, object_type: str, pipeline_id: str, stage_id: str) -> Response:
    sandbox.pipelines.archive_stage(_type(object_type), pipeline_id, stage_id)
    return Response(status=204)
