"""State-store write speed: links with last synced values, outcomes and pending writes, at first-sync volume.

Writes N links (with both sides' values), N outcomes and N pending writes into a fresh state store, then
rewrites the links (a rerun's upserts), on SQLite and on PostgreSQL (the server at 127.0.0.1:5432, or
``DATASYNC_TEST_POSTGRES_URL``; skipped when none answers), and prints seconds and rows per second per kind,
with the load average.

    .venv/bin/python bench/state_store_writes.py --records 50000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

import pandas as pd
import sqlalchemy as sa

from datasync_pipeline.state import Link, StateStore
from datasync_pipeline.state import pending


def values(i: int) -> dict:
    return {"email": f"person{i}@example.com", "firstname": f"First{i}", "lastname": f"Last{i}", "city": "Berlin", "phone": None}


def measure(url: str, records: int) -> dict[str, float]:
    store = StateStore(url)
    links = [Link(str(10_000_000 + i), str(i), values(i), values(i)) for i in range(records)]
    outcomes = pd.DataFrame({"side": "app", "record_id": [str(i) for i in range(records)], "status": "excluded",
                             "category": "no unique identity", "message": "no valid email"})
    figures = {}
    started = time.perf_counter()
    store.link("bench", links)
    figures["link (insert)"] = time.perf_counter() - started
    started = time.perf_counter()
    store.link("bench", links)
    figures["link (upsert again)"] = time.perf_counter() - started
    started = time.perf_counter()
    store.record_outcomes("bench", outcomes, recorded_by="app", run_id="r")
    figures["record_outcomes"] = time.perf_counter() - started
    started = time.perf_counter()
    pending.record_pending(store, "bench", "app", pending.UPDATE, {link.app_id: link.app_values for link in links}, run_id="r")
    figures["record_pending"] = time.perf_counter() - started
    started = time.perf_counter()
    pending.clear_pending(store, "bench", hubspot_ids=[link.hubspot_id for link in links], app_ids=[link.app_id for link in links])
    figures["clear_pending"] = time.perf_counter() - started
    store.forget_sync("bench")
    store.engine.dispose()
    return figures


def postgres_url() -> str | None:
    base = os.environ.get("DATASYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    try:
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return base.rsplit("/", 1)[0] + f"/{name}"
    except Exception as error:  # noqa: BLE001 - a benchmark without a server still measures SQLite
        print(f"PostgreSQL: skipped ({type(error).__name__}: {str(error).splitlines()[0]})")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    records = parser.parse_args().records
    with tempfile.TemporaryDirectory() as home:
        targets = {"SQLite": f"sqlite:///{home}/state.sqlite"}
        if (url := postgres_url()) is not None:
            targets["PostgreSQL"] = url
        for name, url in targets.items():
            figures = measure(url, records)
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"{name}, {records:,} records (load average {load}):")
            for kind, seconds in figures.items():
                print(f"  {kind:<22} {seconds:7.2f} s   {records / seconds:>10,.0f} rows/s")


if __name__ == "__main__":
    main()
