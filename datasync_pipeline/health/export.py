"""Writing record-view chunks to a file: CSV, Excel (.xlsx) or Parquet, chosen by the file's extension.

Each writer appends chunk by chunk, so an export of a million records never holds them all. Excel
sheets stop at 1,048,576 rows: a longer export continues on the sheets ``records 2``, ``records 3``...
Times are UTC (Excel cannot hold a zone: its cells carry UTC wall-clock times).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

FORMATS = {".csv": "CSV", ".xlsx": "Excel", ".parquet": "Parquet"}
EXCEL_MAX_ROWS = 1_048_576


def export_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot export to {path.name!r}: name a file ending in {', '.join(FORMATS)}")
    return FORMATS[suffix]


def export_records(chunks: Iterable[pd.DataFrame], path: Path, columns: list[str], *, progress: Callable[[int], None] | None = None) -> int:
    """Write the chunks to ``path`` (format by extension); returns the rows written."""
    writer = {"CSV": _write_csv, "Excel": _write_excel, "Parquet": _write_parquet}[export_format(path)]
    path.parent.mkdir(parents=True, exist_ok=True)

    def reported(frames: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for frame in frames:
            yield frame
            if progress is not None:
                progress(len(frame))

    return writer(reported(chunks), path, columns)


def _write_csv(chunks: Iterable[pd.DataFrame], path: Path, columns: list[str]) -> int:
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        pd.DataFrame(columns=columns).to_csv(handle, index=False)
        for chunk in chunks:
            chunk.to_csv(handle, header=False, index=False)
            written += len(chunk)
    return written


def _write_parquet(chunks: Iterable[pd.DataFrame], path: Path, columns: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.timestamp("us", tz="UTC") if c == "time" else pa.string()) for c in columns])
    written = 0
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in chunks:
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            written += len(chunk)
    return written


def _write_excel(chunks: Iterable[pd.DataFrame], path: Path, columns: list[str]) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet, rows_on_sheet, sheets = None, EXCEL_MAX_ROWS, 0
    written = 0
    for chunk in chunks:
        if "time" in chunk:
            chunk = chunk.assign(time=chunk["time"].dt.tz_convert("UTC").dt.tz_localize(None))
        values = chunk.astype(object).where(chunk.notna(), None)
        for row in values.itertuples(index=False, name=None):
            if rows_on_sheet >= EXCEL_MAX_ROWS:
                sheets += 1
                sheet = workbook.create_sheet("records" if sheets == 1 else f"records {sheets}")
                sheet.append(columns)
                rows_on_sheet = 1
            sheet.append(row)
            rows_on_sheet += 1
        written += len(chunk)
    if sheet is None:
        workbook.create_sheet("records").append(columns)
    workbook.save(path)
    return written
