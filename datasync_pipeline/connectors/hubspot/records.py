"""Reading and writing CRM records: list paging and the five batch endpoints.

Writes send each input's ref as `objectWriteTraceId`, so HubSpot answers a batch with one bad input by
writing the others and naming the bad one in a 207, and the ref comes back on each result; refs are how
the engine ties a result to its own record. Older behaviour (a whole batch failing, no trace ids in the
answer) falls back to matching by id or by order and to isolating the bad inputs by bisection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from datasync_pipeline.connectors.hubspot.batching import BatchResult, chunked, run_chunks, send_isolating_bad_inputs
from datasync_pipeline.connectors.hubspot.errors import HubSpotRequestError, record_error_from, refs_of_error
from datasync_pipeline.connectors.hubspot.transport import HubSpotTransport
from datasync_pipeline.errors import ErrorCategory, RecordError

BATCH_SIZE = 100
PAGE_SIZE = 100


class RecordsApi:
    """`/crm/v3/objects/{type}` (or a date-versioned prefix): list, batch read/create/update/upsert/archive."""

    def __init__(self, transport: HubSpotTransport, *, object_path_prefix: str, max_concurrency: int) -> None:
        self._transport = transport
        self._prefix = object_path_prefix.rstrip("/")
        self._max_concurrency = max_concurrency

    def list_records(
        self,
        object_type: str,
        *,
        properties: Sequence[str],
        archived: bool = False,
        associations: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a type (only archived ones with `archived=True`), 100 a page, following `after`."""
        params: dict[str, Any] = {"limit": PAGE_SIZE, "archived": "true" if archived else "false"}
        if properties:
            params["properties"] = ",".join(properties)
        if associations:
            params["associations"] = ",".join(associations)
        while True:
            body = self.list_page(object_type, params)
            yield from body.get("results") or []
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after

    def list_page(self, object_type: str, params: dict[str, Any]) -> dict[str, Any]:
        """One page of the list, as HubSpot answers it (``results``, ``paging``)."""
        return self._transport.request("GET", f"{self._prefix}/{{type}}", path_params={"type": object_type}, params=params).json()

    def batch_read(
        self, object_type: str, ids: Sequence[str], *, properties: Sequence[str], id_property: str | None = None
    ) -> BatchResult:
        """Records by id (or by a unique property's value); ids HubSpot does not have fail as NOT_FOUND."""
        unique_ids = list(dict.fromkeys(str(record_id) for record_id in ids))
        requested = list(properties) + ([id_property] if id_property and id_property not in properties else [])

        def send(chunk: list[str]) -> BatchResult:
            body: dict[str, Any] = {"properties": requested, "inputs": [{"id": record_id} for record_id in chunk]}
            if id_property:
                body["idProperty"] = id_property
            try:
                response = self._post(object_type, "read", body)
            except HubSpotRequestError as failure:
                return BatchResult.all_failed(chunk, failure.record_error)
            return _read_result(response.json(), chunk, id_property)

        return run_chunks(chunked(unique_ids, BATCH_SIZE), send, max_concurrency=self._max_concurrency)

    def batch_create(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Create records; inputs `{"ref", "properties", "associations"?}`."""

        def build(item: dict[str, Any]) -> dict[str, Any]:
            built = {"properties": item.get("properties") or {}, "objectWriteTraceId": item["ref"]}
            if item.get("associations"):
                built["associations"] = item["associations"]
            return built

        return self._write(object_type, "create", inputs, build, result_ref=lambda result, refs: None)

    def batch_update(self, object_type: str, inputs: Sequence[dict[str, Any]]) -> BatchResult:
        """Update records by HubSpot id; inputs `{"ref", "id", "properties"}`."""
        ref_by_id = {str(item["id"]): item["ref"] for item in inputs}

        def build(item: dict[str, Any]) -> dict[str, Any]:
            return {"id": str(item["id"]), "properties": item.get("properties") or {}, "objectWriteTraceId": item["ref"]}

        def result_ref(result: dict[str, Any], refs: set[str]) -> str | None:
            return ref_by_id.get(str(result.get("id")))

        return self._write(object_type, "update", inputs, build, result_ref=result_ref, ref_by_id=ref_by_id)

    def batch_upsert(self, object_type: str, inputs: Sequence[dict[str, Any]], *, id_property: str) -> BatchResult:
        """Create-or-update by a unique property; inputs `{"ref", "id": unique value, "properties"}`.

        Results carry `new: bool`. Upserting by a unique property makes creates idempotent: a rerun after a
        crash updates what the first run created instead of creating it twice.
        """
        ref_by_value = {str(item["id"]).strip().lower(): item["ref"] for item in inputs}

        def build(item: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": str(item["id"]),
                "idProperty": id_property,
                "properties": item.get("properties") or {},
                "objectWriteTraceId": item["ref"],
            }

        def result_ref(result: dict[str, Any], refs: set[str]) -> str | None:
            value = (result.get("properties") or {}).get(id_property)
            return ref_by_value.get(str(value).strip().lower()) if value is not None else None

        result = self._write(object_type, "upsert", inputs, build, result_ref=result_ref)
        for record in result.results.values():
            record["new"] = bool(record.get("new", False))
        return result

    def batch_archive(self, object_type: str, ids: Sequence[str]) -> None:
        """Archive (soft-delete) records; raises if any chunk could not be archived after retries."""
        unique_ids = list(dict.fromkeys(str(record_id) for record_id in ids))

        def send(chunk: list[str]) -> BatchResult:
            try:
                self._post(object_type, "archive", {"inputs": [{"id": record_id} for record_id in chunk]})
            except HubSpotRequestError as failure:
                return BatchResult.all_failed(chunk, failure.record_error)
            return BatchResult(results={record_id: {"id": record_id} for record_id in chunk})

        result = run_chunks(chunked(unique_ids, BATCH_SIZE), send, max_concurrency=self._max_concurrency)
        if result.failed:
            first = next(iter(result.failed.values()))
            message = f"{len(result.failed)} of {len(unique_ids)} {object_type} could not be archived: {first.message}"
            raise HubSpotRequestError(RecordError(first.category, message), status=None)

    def _write(
        self,
        object_type: str,
        action: str,
        inputs: Sequence[dict[str, Any]],
        build: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        result_ref: Callable[[dict[str, Any], set[str]], str | None],
        ref_by_id: dict[str, str] | None = None,
    ) -> BatchResult:
        _check_unique_refs(inputs)

        def send_exactly(chunk: list[dict[str, Any]]) -> BatchResult:
            response = self._post(object_type, action, {"inputs": [build(item) for item in chunk]})
            return _write_result(response.json(), [item["ref"] for item in chunk], result_ref, ref_by_id or {})

        def send(chunk: list[dict[str, Any]]) -> BatchResult:
            return send_isolating_bad_inputs(chunk, send_exactly, ref_of=lambda item: item["ref"], ref_by_id=ref_by_id)

        return run_chunks(chunked(list(inputs), BATCH_SIZE), send, max_concurrency=self._max_concurrency)

    def _post(self, object_type: str, action: str, body: dict[str, Any]):
        return self._transport.request(
            "POST", f"{self._prefix}/{{type}}/batch/{action}", path_params={"type": object_type}, json=body
        )


def _read_result(body: dict[str, Any], chunk: list[str], id_property: str | None) -> BatchResult:
    result = BatchResult()
    ref_by_key = {record_id.strip().lower() if id_property else record_id: record_id for record_id in chunk}
    for record in body.get("results") or []:
        key = (record.get("properties") or {}).get(id_property) if id_property else record.get("id")
        key = str(key).strip().lower() if id_property and key is not None else str(key)
        if key in ref_by_key:
            result.results[ref_by_key[key]] = record
    for error in body.get("errors") or []:
        for ref in refs_of_error(error, refs=chunk, ref_by_id={record_id: record_id for record_id in chunk}):
            if ref not in result.results:
                result.failed[ref] = record_error_from(error)
    for ref in chunk:
        if ref not in result.results and ref not in result.failed:
            result.failed[ref] = RecordError(ErrorCategory.NOT_FOUND, f"No record with id {ref}")
    return result


def _write_result(
    body: dict[str, Any],
    refs: list[str],
    result_ref: Callable[[dict[str, Any], set[str]], str | None],
    ref_by_id: dict[str, str],
) -> BatchResult:
    """Tie each result and error of a 200/201/207 answer to its input ref."""
    ref_set = set(refs)
    result = BatchResult()
    for error in body.get("errors") or []:
        for ref in refs_of_error(error, refs=refs, ref_by_id=ref_by_id):
            result.failed.setdefault(ref, record_error_from(error))
    unmatched: list[dict[str, Any]] = []
    for record in body.get("results") or []:
        trace_id = record.get("objectWriteTraceId")
        ref = trace_id if trace_id in ref_set else result_ref(record, ref_set)
        if ref is None or ref in result.results:
            unmatched.append(record)
        else:
            result.results[ref] = record
    remaining = [ref for ref in refs if ref not in result.results and ref not in result.failed]
    if unmatched and len(unmatched) == len(remaining):
        # No trace ids in the answer: HubSpot returns results in input order.
        result.results.update(zip(remaining, unmatched))
        remaining = []
    unnamed_errors = [error for error in body.get("errors") or [] if not refs_of_error(error, refs=refs, ref_by_id=ref_by_id)]
    for ref in remaining:
        result.failed[ref] = (
            record_error_from(unnamed_errors[0])
            if unnamed_errors
            else RecordError(ErrorCategory.UNKNOWN, "HubSpot returned no result for this input")
        )
    return result


def _check_unique_refs(inputs: Sequence[dict[str, Any]]) -> None:
    refs = [item["ref"] for item in inputs]
    if len(set(refs)) != len(refs):
        raise ValueError("Every batch input needs a distinct ref")
