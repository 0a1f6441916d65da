"""Batch results, chunking, running chunks concurrently, and isolating the bad inputs of a rejected chunk.

A batch call over thousands of inputs is split into HubSpot's chunk size and the chunks run on a thread
pool while the shared rate limiter keeps the pace; a chunk that fails never stops the others. When
HubSpot rejects a chunk as a whole without saying which input was bad, the chunk is split in halves until
the bad inputs stand alone, so one bad record fails alone (the engine's "one bad record never stops the
rest" invariant).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from datasync_pipeline.connectors.hubspot.errors import HubSpotRequestError, RejectedRequestError, record_error_from, refs_of_error
from datasync_pipeline.errors import RecordError

T = TypeVar("T")


@dataclass
class BatchResult:
    """Per input ref: the record HubSpot returned, or why the input failed. Every ref is in exactly one."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, RecordError] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> BatchResult:
        self.results.update(other.results)
        self.failed.update(other.failed)
        return self

    @classmethod
    def all_failed(cls, refs: Iterable[str], error: RecordError) -> BatchResult:
        return cls(failed={ref: error for ref in refs})


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def run_chunks(chunks: list[list[T]], send: Callable[[list[T]], BatchResult], *, max_concurrency: int) -> BatchResult:
    """Send every chunk, `max_concurrency` at a time, and merge their results.

    `send` handles its own per-record failures; what it raises (authentication, missing scopes) is about
    the whole call and propagates.
    """
    result = BatchResult()
    if len(chunks) <= 1 or max_concurrency <= 1:
        for chunk in chunks:
            result.merge(send(chunk))
        return result
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="hubspot-batch") as pool:
        for chunk_result in pool.map(send, chunks):
            result.merge(chunk_result)
    return result


def send_isolating_bad_inputs(
    inputs: list[T],
    send: Callable[[list[T]], BatchResult],
    *,
    ref_of: Callable[[T], str],
    ref_by_id: dict[str, str] | None = None,
) -> BatchResult:
    """Send `inputs` as one batch; when HubSpot rejects it for some input's data, narrow down to that input.

    A rejection whose errors name inputs (by trace id or record id) fails those and resends the rest; one
    that names none splits the batch in halves. A rejected request wrote nothing, so resending is safe.
    Transient failures that outlived their retries fail the whole chunk with their category.
    """
    refs = [ref_of(item) for item in inputs]
    try:
        return send(inputs)
    except RejectedRequestError as rejection:
        if not rejection.is_record_level:
            return BatchResult.all_failed(refs, rejection.record_error)
        named = _errors_naming_inputs(rejection, refs, ref_by_id or {})
        if named and len(named) < len(refs):
            rest = [item for item, ref in zip(inputs, refs) if ref not in named]
            return BatchResult(failed=named).merge(send_isolating_bad_inputs(rest, send, ref_of=ref_of, ref_by_id=ref_by_id))
        if named:
            return BatchResult(failed=named)
        if len(inputs) == 1 or not rejection.can_be_bisected:
            return BatchResult.all_failed(refs, rejection.record_error)
        middle = len(inputs) // 2
        return send_isolating_bad_inputs(inputs[:middle], send, ref_of=ref_of, ref_by_id=ref_by_id).merge(
            send_isolating_bad_inputs(inputs[middle:], send, ref_of=ref_of, ref_by_id=ref_by_id)
        )
    except HubSpotRequestError as failure:
        return BatchResult.all_failed(refs, failure.record_error)


def _errors_naming_inputs(rejection: RejectedRequestError, refs: list[str], ref_by_id: dict[str, str]) -> dict[str, RecordError]:
    named: dict[str, RecordError] = {}
    for error in [rejection.body, *(rejection.body.get("errors") or [])]:
        if not isinstance(error, dict):
            continue
        for ref in refs_of_error(error, refs=refs, ref_by_id=ref_by_id):
            named.setdefault(ref, record_error_from(error, status=rejection.status))
    return named
