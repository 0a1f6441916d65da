"""Batch writes against a scripted HubSpot: 207 mapping, bisection of whole-batch rejections, chunk failures."""

from __future__ import annotations

import json
import threading

import httpx

from datasync_pipeline.connectors.hubspot import DuplicateRecordError, HubSpotClient
from datasync_pipeline.errors import ErrorCategory
from datasync_pipeline_tests.connectors.hubspot.fakes import FakeClock, json_response

INVALID_EMAIL_MESSAGE = 'Property values were not valid: [{"isValid":false,"message":"Email address bad is invalid","error":"INVALID_EMAIL","name":"email"}]'


class FakeCreate:
    """A batch create endpoint; `trace_ids=False` behaves like the old API (one bad input fails the batch)."""

    def __init__(self, *, trace_ids: bool = True, fail_chunks_containing: str | None = None) -> None:
        self.trace_ids = trace_ids
        self.fail_chunks_containing = fail_chunks_containing
        self.next_id = 1000
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        with self.lock:
            self.batch_sizes.append(len(inputs))
        if self.fail_chunks_containing and any(i["objectWriteTraceId"] == self.fail_chunks_containing for i in inputs):
            return json_response(503, {"message": "down"})
        bad = [i for i in inputs if i["properties"].get("email") == "bad"]
        duplicate = [i for i in inputs if i["properties"].get("email") == "taken@x.test"]
        if not self.trace_ids and (bad or duplicate):
            if duplicate:
                return json_response(409, {"status": "error", "category": "CONFLICT", "message": "Contact already exists. Existing ID: 42"})
            return json_response(400, {"status": "error", "category": "VALIDATION_ERROR", "message": INVALID_EMAIL_MESSAGE})
        results, errors = [], []
        for item in inputs:
            if item in bad:
                errors.append(_error("VALIDATION_ERROR", INVALID_EMAIL_MESSAGE, item))
            elif item in duplicate:
                errors.append(_error("CONFLICT", "Contact already exists. Existing ID: 42", item))
            else:
                with self.lock:
                    self.next_id += 1
                    record_id = self.next_id
                result = {"id": str(record_id), "properties": item["properties"]}
                if self.trace_ids:
                    result["objectWriteTraceId"] = item["objectWriteTraceId"]
                results.append(result)
        body = {"status": "COMPLETE", "results": results}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return json_response(207 if errors else 201, body)


def _error(category: str, message: str, item: dict) -> dict:
    trace = {"objectWriteTraceId": [item["objectWriteTraceId"]]}
    return {"status": "error", "category": category, "message": message, "context": trace}


def _client(handler, **settings) -> HubSpotClient:
    return HubSpotClient(
        base_url="https://hubspot.test", token="t", tier="unlimited", transport=httpx.MockTransport(handler), clock=FakeClock(), **settings
    )


def _inputs(count: int, **special: str) -> list[dict]:
    emails = {f"r{n}": f"c{n}@x.test" for n in range(count)}
    emails.update(special)
    return [{"ref": ref, "properties": {"email": email}} for ref, email in emails.items()]


def test_207_fails_only_the_bad_inputs_and_ties_results_to_refs():
    result = _client(FakeCreate()).batch_create("contacts", _inputs(100, r7="bad", r9="taken@x.test"))
    assert len(result.results) == 98
    assert result.results["r3"]["properties"]["email"] == "c3@x.test"
    assert result.failed["r7"].category == ErrorCategory.INVALID_EMAIL
    assert isinstance(result.failed["r9"], DuplicateRecordError) and result.failed["r9"].existing_id == "42"


def test_without_trace_ids_a_rejected_batch_is_bisected_down_to_the_bad_input():
    fake = FakeCreate(trace_ids=False)
    result = _client(fake).batch_create("contacts", _inputs(100, r50="taken@x.test"))
    assert set(result.failed) == {"r50"}
    assert result.failed["r50"].existing_id == "42"
    assert len(result.results) == 99
    assert result.results["r3"]["properties"]["email"] == "c3@x.test"  # matched by input order
    assert len(fake.batch_sizes) <= 2 * 7 + 1


def test_chunks_run_concurrently_and_a_failing_chunk_fails_only_its_refs():
    fake = FakeCreate(fail_chunks_containing="r250")
    client = _client(fake, max_concurrency=4, max_attempts=2)
    result = client.batch_create("contacts", _inputs(1_000))
    assert len(result.results) == 900
    assert {ref for ref in result.failed} == {f"r{n}" for n in range(200, 300)}
    assert all(error.category == ErrorCategory.SERVER_ERROR for error in result.failed.values())
    assert client.call_counts["POST /crm/v3/objects/{type}/batch/create"] == 11
    assert client.retry_counts["POST /crm/v3/objects/{type}/batch/create"] == 1


def test_batch_read_reports_missing_ids_as_not_found():
    def handler(request: httpx.Request) -> httpx.Response:
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        found = [{"id": i, "properties": {}} for i in ids if i != "2"]
        message = "Could not get some CONTACT objects"
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": message, "context": {"ids": ["2"]}}]
        return json_response(207, {"status": "COMPLETE", "results": found, "errors": errors, "numErrors": 1})

    result = _client(handler).batch_read("contacts", ["1", "2", "3", "1"], properties=["email"])
    assert set(result.results) == {"1", "3"}
    assert result.failed["2"].category == ErrorCategory.NOT_FOUND


def test_upsert_results_say_whether_they_are_new():
    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        assert all(item["idProperty"] == "datasync_id" for item in inputs)
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": [
                    {"id": str(n), "new": n == 0, "properties": {"datasync_id": item["id"]}} for n, item in enumerate(inputs)
                ],
            },
        )

    result = _client(handler).batch_upsert(
        "companies", [{"ref": "a", "id": "A-1", "properties": {}}, {"ref": "b", "id": "B-1", "properties": {}}], id_property="datasync_id"
    )
    assert result.results["a"]["new"] is True and result.results["b"]["new"] is False
