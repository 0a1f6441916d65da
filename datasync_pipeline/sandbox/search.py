"""``POST /crm/v3/objects/{objectType}/search``: filters, one sort, offset paging capped at 10,000.

Filters are translated to SQL. The id, create date and last-modified date map to indexed columns, so
the incremental-sync query (a range on the last-modified date, sorted by it) stays fast on large
portals; other properties are read from the JSON document. Numbers and dates compare numerically;
dates may be epoch-millisecond strings or ISO text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import ColumnElement
from werkzeug.wrappers import Request, Response

from datasync_pipeline.sandbox.errors import json_response, validation_error
from datasync_pipeline.sandbox.http_input import read_body, resolve_object_type
from datasync_pipeline.sandbox.request_shapes import SEARCH
from datasync_pipeline.sandbox.object_types import ObjectType
from datasync_pipeline.sandbox.property_definitions import DEFAULT_READ_PROPERTIES, PropertyDefinition
from datasync_pipeline.sandbox.records import render_record
from datasync_pipeline.sandbox.store import StoredRecord
from datasync_pipeline.sandbox.timestamps import parse_number, parse_to_milliseconds

if TYPE_CHECKING:
    from datasync_pipeline.sandbox.sandbox import Sandbox

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_RESULTS = 10_000
OPERATORS = {
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
}
_NUMERIC_TYPES = {"number", "date", "datetime"}
_FREE_TEXT_EXTRAS = {"contacts": ("phone", "company"), "companies": ("website", "phone")}



def _column_properties(kind: ObjectType, table: FromClause) -> dict[str, Any]:
    return {
        "hs_object_id": table.c.id,
        "createdate": table.c.created_at,
        kind.last_modified_property: table.c.updated_at,
    }


class _Property:
    """How one property is read in SQL: a real column, or a JSON value compared as text or as a number."""

    def __init__(self, kind: ObjectType, definitions: dict[str, PropertyDefinition], name: Any, table: FromClause) -> None:
        if not isinstance(name, str) or name not in definitions:
            raise validation_error(f"Property {name!r} does not exist on {kind.name}; it cannot be searched or sorted.")
        self.name = name
        self.column = _column_properties(kind, table).get(name)
        self.raw = sa.func.json_extract(table.c.properties, f"$.{name}")
        self.numeric = self.column is not None or definitions[name].type in _NUMERIC_TYPES
        if self.column is not None:
            self.value: ColumnElement = self.column
        elif self.numeric:
            self.value = sa.func.datasync_number(self.raw)
        else:
            self.value = sa.func.lower(self.raw)

    def operand(self, value: Any) -> Any:
        """A filter value in the form the property's SQL expression compares against."""
        if value is None:
            raise validation_error(f"Filter on {self.name} needs a value.")
        text = str(value).strip()
        if not self.numeric:
            return text.lower()
        number = parse_to_milliseconds(text) if self.column is not None and self.name != "hs_object_id" else parse_number(text)
        if number is None:
            raise validation_error(f"Filter value {value!r} for {self.name} is not a number or a date.")
        return number

    def has_value(self) -> ColumnElement:
        if self.column is not None:
            return sa.true()
        return sa.and_(self.raw.is_not(None), self.raw != "")

    def lacks_value(self) -> ColumnElement:
        if self.column is not None:
            return sa.false()
        return sa.or_(self.raw.is_(None), self.raw == "")


def _filter_clause(
    kind: ObjectType, definitions: dict[str, PropertyDefinition], search_filter: Any, table: FromClause
) -> ColumnElement:
    if not isinstance(search_filter, dict):
        raise validation_error("Every filter must be an object with propertyName and operator.")
    operator = search_filter.get("operator")
    if operator not in OPERATORS:
        raise validation_error(f"Unknown filter operator {operator!r}; one of {sorted(OPERATORS)}.")
    prop = _Property(kind, definitions, search_filter.get("propertyName"), table)
    value = search_filter.get("value")
    match operator:
        case "EQ":
            return prop.value == prop.operand(value)
        case "NEQ":
            return sa.or_(prop.lacks_value(), prop.value != prop.operand(value))
        case "LT":
            return prop.value < prop.operand(value)
        case "LTE":
            return prop.value <= prop.operand(value)
        case "GT":
            return prop.value > prop.operand(value)
        case "GTE":
            return prop.value >= prop.operand(value)
        case "BETWEEN":
            return prop.value.between(prop.operand(value), prop.operand(search_filter.get("highValue")))
        case "IN" | "NOT_IN":
            values = search_filter.get("values")
            if not isinstance(values, list) or not values:
                raise validation_error(f"Operator {operator} on {prop.name} needs a non-empty 'values' list.")
            matches = prop.value.in_([prop.operand(item) for item in values])
            return matches if operator == "IN" else sa.or_(prop.lacks_value(), sa.not_(matches))
        case "HAS_PROPERTY":
            return prop.has_value()
        case "NOT_HAS_PROPERTY":
            return prop.lacks_value()
        case "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN":
            target = prop.raw if prop.column is None else sa.cast(prop.column, sa.String)
            contains = sa.func.datasync_contains_token(target, str(value if value is not None else "")) == 1
            return contains if operator == "CONTAINS_TOKEN" else sa.or_(prop.lacks_value(), sa.not_(contains))
    raise AssertionError(operator)


def _filters_clause(
    kind: ObjectType, definitions: dict[str, PropertyDefinition], groups: Any, table: FromClause
) -> ColumnElement:
    """Filters in a group AND together, groups OR together; HubSpot's size limits are enforced."""
    if not groups:
        return sa.true()
    if not isinstance(groups, list):
        raise validation_error("filterGroups must be a list.")
    if len(groups) > MAX_FILTER_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)}; at most {MAX_FILTER_GROUPS} are allowed.")
    total = 0
    clauses = []
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a filter group: {len(filters)}; at most {MAX_FILTERS_PER_GROUP} are allowed."
            )
        total += len(filters)
        clauses.append(sa.and_(sa.true(), *(_filter_clause(kind, definitions, item, table) for item in filters)))
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total}; at most {MAX_FILTERS} are allowed across all groups.")
    return sa.or_(*clauses)


def _free_text_clause(kind: ObjectType, query: Any, table: FromClause) -> ColumnElement:
    if not query:
        return sa.true()
    names = DEFAULT_READ_PROPERTIES[kind.name] + _FREE_TEXT_EXTRAS.get(kind.name, ())
    pattern = f"%{str(query).strip().lower()}%"
    return sa.or_(
        *(sa.func.lower(sa.func.json_extract(table.c.properties, f"$.{name}")).like(pattern) for name in names)
    )


def _order_by(
    kind: ObjectType, definitions: dict[str, PropertyDefinition], sorts: Any, table: FromClause
) -> list[ColumnElement]:
    """One sort at most; ties (and unsorted searches) go by id ascending."""
    if not sorts:
        return [table.c.id]
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise validation_error("Only one sort is supported.")
    sort = sorts[0]
    if isinstance(sort, str):
        descending, name = sort.startswith("-"), sort.lstrip("-")
    elif isinstance(sort, dict):
        name = sort.get("propertyName")
        descending = str(sort.get("direction", "ASCENDING")).upper().startswith("DESC")
    else:
        raise validation_error("A sort is {propertyName, direction}.")
    prop = _Property(kind, definitions, name, table)
    return [prop.value.desc() if descending else prop.value.asc(), table.c.id]


def _paging(body: dict[str, Any]) -> tuple[int, int]:
    try:
        limit = int(body.get("limit") or 10)
        offset = int(body.get("after") or 0)
    except (TypeError, ValueError) as problem:
        raise validation_error("limit and after must be integers.") from problem
    if limit < 1 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    if offset < 0 or offset >= MAX_RESULTS or offset + limit > MAX_RESULTS:
        raise validation_error(
            f"Paging past {MAX_RESULTS} results is not supported: after ({offset}) + limit ({limit}) "
            f"must not exceed {MAX_RESULTS}. Narrow the filters instead.",
            subCategory="SEARCH_RESULT_WINDOW_TOO_LARGE",
        )
    return limit, offset


def search_objects(sandbox: Sandbox, request: Request, object_type: str) -> Response:
    """Search what the index holds: with indexing lag on (``search_index``), a write surfaces only once indexed."""
    kind = resolve_object_type(object_type)
    body = read_body(request, SEARCH)
    definitions = sandbox.catalogue.definitions(kind)
    limit, offset = _paging(body)
    with sandbox.store.reading() as connection:
        table = sandbox.search_index.searchable(connection)
        conditions = [
            table.c.object_type == kind.name,
            table.c.archived.is_(False),
            _filters_clause(kind, definitions, body.get("filterGroups"), table),
            _free_text_clause(kind, body.get("query"), table),
        ]
        order = _order_by(kind, definitions, body.get("sorts"), table)
        total = connection.execute(sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one()
        rows = connection.execute(sa.select(table).where(*conditions).order_by(*order).limit(limit).offset(offset))
        page = [StoredRecord.from_row(row) for row in rows]
    requested = body.get("properties") or None
    answer: dict[str, Any] = {
        "total": total,
        "results": [render_record(kind, definitions, record, requested) for record in page],
    }
    if offset + len(page) < total:
        answer["paging"] = {"next": {"after": str(offset + limit)}}
    return json_response(answer)
