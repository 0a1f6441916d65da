"""Benchmark of the first sync's full compare of contacts: ``match_records`` + ``plan_first_sync``.

Generates N HubSpot and N app contacts (half of them the same people on both sides), then times the
compare in a fresh Python process per run, so that its peak memory is measured on its own: the
input frames are loaded from a pickle, the process's resident-set high-water mark is reset
(``/proc/self/clear_refs``), the compare runs, and the new high-water mark is read. Beside it, a
bare ``pandas.merge`` of the same normalised email keys shows the floor pandas itself sets: each
repeat runs the compare and then the merge, so both see the same load, and the report gives the
compare's CPU time as a multiple of the merge's (goal: at most 3x). The machine's load average
(1 minute) at the start and end of each measurement is printed beside its figures: on a shared
machine a wall time means little without it.

    .venv/bin/python bench/compare_contacts.py                   # 1,000,000 records per side
    .venv/bin/python bench/compare_contacts.py --records 100000 --repeat 3

Data generation is not timed. The figures go to stdout as a small table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FIELDS = ["email", "firstname", "lastname", "phone", "company", "jobtitle", "city", "country"]
GOAL_SECONDS = 5.0
GOAL_PEAK_MB = 2048.0
GOAL_CPU_RATIO = 3.0  # the compare's CPU time over a bare pandas.merge's on the same keys


# ---------------------------------------------------------------------------------------------
# Data generation (not timed)
# ---------------------------------------------------------------------------------------------

FIRST_NAMES = ["anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas", "karla", "leon",
               "mia", "noah", "olga", "paul", "quinn", "rosa", "sven", "tina", "uwe", "vera", "willi", "xenia",
               "yusuf", "zoe", "jürgen", "zoë", "françois", "siobhán", "łukasz", "ángel", "o'brien", "mary-jane"]
LAST_NAMES = ["müller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz", "hoffmann",
              "koch", "richter", "klein", "wolf", "schröder", "neumann", "schwarz", "braun", "zimmermann", "krüger",
              "smith", "jones", "garcía", "rossi", "dubois", "nowak", "kowalski", "jensen", "novák", "o'neil"]
DOMAINS = ["gmail.com", "web.de", "gmx.de", "yahoo.com", "outlook.com", "t-online.de", "mail.example.org",
           "acme-industries.co.uk", "firma.de", "startup.io", "university.edu", "sub.dept.agency.gov", "example.net",
           "posteo.de", "icloud.com", "proton.me", "company123.com", "x.org", "longer-domain-name-here.info", "a1.b2.c3.de"]
JOB_TITLES = ["CEO", "CTO", "Engineer", "Sales Manager", "Account Executive", "Head of Marketing", "Designer",
              "Data Analyst", "Consultant", "Office Manager", "Support Lead", "Developer", "Product Owner", "Buyer"]
CITIES = ["Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Düsseldorf", "Leipzig", "Wien",
          "Zürich", "London", "Paris", "Madrid", "Roma", "Amsterdam", "Warszawa", "Praha", "København", "New York", "Tokyo"]
COUNTRIES = ["Germany", "Austria", "Switzerland", "United Kingdom", "France", "Spain", "Italy", "Netherlands",
             "Poland", "Czechia", "Denmark", "United States", "Japan"]
# Addresses email-validator must see itself: international, quoted, odd but valid, and invalid ones.
UNUSUAL_VALID = ["jürgen.{i}@müller.de", "用户{i}@例子.中国", "user{i}@xn--mller-kva.de", "o'brien{i}@example.ie",
                 "first+tag{i}@sub.example.com", "{i}@numbers.io", "Zoë{i}@Example.COM"]
INVALID = ["person{i} at example.com", "person{i}@", "@example{i}.com", "a..b{i}@example.com", "person{i}@localhost",
           "person{i}@example", "per son{i}@example.com", "person{i}@exa_mple.com", ".dot{i}@example.com",
           "person{i}@example.test", "\"quoted {i}\"@example.com", "person{i}@-example.com"]


def generate(records: int, seed: int = 7, shuffled: bool = False):
    """HubSpot and app contact frames shaped like the connectors' output: object columns, None for no value.

    Every value is its own str object, as a database driver or a JSON decoder returns them. Each
    side's rows are in id order unless ``shuffled``.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    overlap = records // 2
    people = records * 2 - overlap  # hubspot gets people [0, records), the app [records - overlap, people)

    def pick(vocabulary: list[str], size: int) -> np.ndarray:
        return np.asarray(vocabulary, dtype=object)[rng.integers(0, len(vocabulary), size)]

    first, last = pick(FIRST_NAMES, people), pick(LAST_NAMES, people)
    domain = pick(DOMAINS, people)
    style = rng.integers(0, 4, people)
    local_formats = ["{f}.{l}{i}", "{f}_{l}{i}", "{f0}{l}{i}", "{f}{i}"]
    emails = [
        local_formats[s].format(f=f, l=l, f0=f[0], i=i).replace("ü", "ue").replace("ö", "oe").replace("'", "")
        .encode("ascii", "ignore").decode() + "@" + d
        for i, (f, l, d, s) in enumerate(zip(first, last, domain, style))
    ]
    unusual = rng.random(people) < 0.002
    for i in np.flatnonzero(unusual):
        emails[i] = UNUSUAL_VALID[i % len(UNUSUAL_VALID)].format(i=i)
    person = {
        "email": np.asarray(emails, dtype=object),
        "firstname": np.char.capitalize(first.astype(str)).astype(object),
        "lastname": np.char.capitalize(last.astype(str)).astype(object),
        "phone": np.asarray([f"+49 {30 + n % 900} {n:08d}" for n in rng.integers(0, 10**8, people)], dtype=object),
        "company": np.asarray([f"Company {n} GmbH" for n in rng.integers(0, 50_000, people)], dtype=object),
        "jobtitle": pick(JOB_TITLES, people),
        "city": pick(CITIES, people),
        "country": pick(COUNTRIES, people),
    }

    def side(people_ids: np.ndarray, id_base: int, in_overlap: np.ndarray, is_app: bool) -> pd.DataFrame:
        n = len(people_ids)
        shuffle = rng.permutation(n)  # people in no particular order of ids
        people_ids, in_overlap = people_ids[shuffle], in_overlap[shuffle]
        columns: dict[str, list] = {}
        for name in FIELDS:
            values = person[name][people_ids].copy()
            if name != "email":
                # Overlapping people: some fields differ (conflicts), some are empty on one side (fills).
                roll = rng.random(n)
                differ = in_overlap & (roll < 0.06) & is_app
                values[differ] = person[name][rng.integers(0, people, int(differ.sum()))]
                empty = (in_overlap & (roll >= 0.06) & (roll < 0.06 + 0.04)) | (~in_overlap & (roll < 0.08))
                if is_app:
                    empty = empty | (in_overlap & (roll >= 0.10) & (roll < 0.14))
                values[empty] = None
                padded = (roll >= 0.97) & ~empty
                values[padded] = [f" {v} " for v in values[padded]]  # same value after stripping: no conflict
            columns[name] = values
        email = columns["email"]
        roll = rng.random(n)
        # Differently written addresses of the same person: case and surrounding space.
        upper = roll < (0.10 if is_app else 0.03)
        email[upper] = [v.upper() if j % 2 else v.title() for j, v in enumerate(email[upper])]
        padded = (roll >= 0.20) & (roll < 0.25)
        email[padded] = [f"  {v} " for v in email[padded]]
        # About 1% without a usable address: none, blank or invalid.
        missing = (roll >= 0.50) & (roll < 0.505)
        email[missing] = [None, "", "   "] * (int(missing.sum()) // 3) + [None] * (int(missing.sum()) % 3)
        invalid = (roll >= 0.60) & (roll < 0.605)
        email[invalid] = [INVALID[j % len(INVALID)].format(i=j) for j in range(int(invalid.sum()))]
        # In-side duplicates: about 0.3% repeat the address of another record of the same side.
        duplicate = (roll >= 0.70) & (roll < 0.703)
        sources = rng.integers(0, n, int(duplicate.sum()))
        email[duplicate] = [v.swapcase() if isinstance(v, str) else v for v in email[sources]]
        # Unique ids; each side lists its records in id order (an API page by page, a table by its key),
        # and the same person's ids on the two sides are unrelated.
        ids = np.sort(id_base + rng.permutation(n * 3)[:n]).astype(str).astype(object)
        # Distinct str objects per value, like a driver returns them (pickle keeps shared objects shared).
        frame = pd.DataFrame({"record_id": [str(i) for i in ids],
                              **{c: [None if v is None else "".join([v, ""]) for v in columns[c]] for c in FIELDS}},
                             dtype=object)
        frame["_origin_app_id" if not is_app else "_origin_hubspot_id"] = None
        if shuffled:  # the worst case: neither side in id order
            frame = frame.iloc[rng.permutation(n)].reset_index(drop=True)
        return frame

    hubspot_people = np.arange(0, records)
    app_people = np.arange(records - overlap, people)
    hubspot = side(hubspot_people, 10_000_000, hubspot_people >= records - overlap, is_app=False)
    app = side(app_people, 1, app_people < records, is_app=True)
    return hubspot, app


# ---------------------------------------------------------------------------------------------
# Measuring, in a fresh process per run
# ---------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's RSS high-water mark (Linux), so the peak read later is the compare's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _peak_mb(reset: bool) -> float:
    if reset:
        return _status_kb("VmHWM") / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # whole-process peak (includes loading)


def _contacts_mappings():
    from datasync_pipeline.config.model import SyncSpec
    from datasync_pipeline.sync.mappings import resolve_mappings

    return resolve_mappings(SyncSpec(name="contacts", object="contacts", app="crm", table={"name": "customers"}))


def child_compare(data: Path) -> dict:
    from datasync_pipeline.config.model import Direction, Side
    from datasync_pipeline.engine.match import match_records
    from datasync_pipeline.engine.plan import plan_first_sync
    from datasync_pipeline.objects.catalogue import Identity

    mappings = _contacts_mappings()
    with data.open("rb") as file:
        hubspot, app = pickle.load(file)
    gc.collect()
    input_mb = _status_kb("VmRSS") / 1024
    reset = _reset_peak()
    cpu_started, load = time.process_time(), os.getloadavg()[0]
    started = time.perf_counter()
    matched = match_records(hubspot, app, Identity.EMAIL)
    matched_at = time.perf_counter()
    plan = plan_first_sync(matched, hubspot, app, mappings, direction=Direction.TWO_WAY, default_app=Side.HUBSPOT)
    finished = time.perf_counter()
    return {
        "cpu_seconds": time.process_time() - cpu_started, "load": (load, os.getloadavg()[0]),
        "seconds": finished - started, "match_seconds": matched_at - started, "plan_seconds": finished - matched_at,
        "input_mb": input_mb, "peak_mb": _peak_mb(reset), "peak_reset": reset,
        "counts": {**{f"match/{k}": v for k, v in matched.counts.items()}, **{f"plan/{k}": v for k, v in plan.counts.items()}},
    }


def child_merge(data: Path) -> dict:
    """A bare inner ``pandas.merge`` on the normalised email keys (normalising is not timed)."""
    import pandas as pd

    with data.open("rb") as file:
        hubspot, app = pickle.load(file)

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        keys = frame["email"].str.strip().str.lower()
        return pd.DataFrame({"record_id": frame["record_id"], "key": keys.where(keys != "")}).dropna(subset=["key"])

    hubspot_keys, app_keys = keyed(hubspot), keyed(app)
    del hubspot, app
    gc.collect()
    input_mb = _status_kb("VmRSS") / 1024
    reset = _reset_peak()
    cpu_started, load = time.process_time(), os.getloadavg()[0]
    started = time.perf_counter()
    joined = pd.merge(hubspot_keys, app_keys, on="key", suffixes=("_hubspot", "_app"))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu_started, "load": (load, os.getloadavg()[0]),
            "input_mb": input_mb, "peak_mb": _peak_mb(reset), "peak_reset": reset, "rows": len(joined)}


def run_child(mode: str, data: Path) -> dict:
    """One measurement in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run([sys.executable, __file__, "--child", mode, "--data", str(data)], stdout=subprocess.PIPE, env=env)
    if completed.returncode:
        raise SystemExit(f"the {mode} run failed (exit {completed.returncode})")
    return json.loads(completed.stdout)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _loads(result: dict) -> str:
    """The 1-minute load average at the start and at the end of one measurement."""
    start, end = result["load"]
    return f"{start:.2f}->{end:.2f}"


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="contacts per side (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shuffled", action="store_true", help="rows of both sides in random order instead of id order (worst case)")
    parser.add_argument("--cache", type=Path, help="keep the generated data in this folder and reuse it on the next run")
    parser.add_argument("--child", choices=["compare", "merge"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = child_compare(args.data) if args.child == "compare" else child_merge(args.data)
        json.dump(result, sys.stdout)
        return

    with tempfile.TemporaryDirectory(prefix="datasync-bench-") as folder:
        data = (args.cache or Path(folder)) / f"contacts-{args.records}-{args.seed}{'-shuffled' if args.shuffled else ''}.pickle"
        if not data.exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            hubspot, app = generate(args.records, args.seed, args.shuffled)
            with data.open("wb") as file:
                pickle.dump((hubspot, app), file, protocol=pickle.HIGHEST_PROTOCOL)
            print(f"generated {len(hubspot):,} HubSpot and {len(app):,} app contacts in {time.perf_counter() - started:.1f} s (not timed)",
                  file=sys.stderr)
            del hubspot, app
            gc.collect()
        compares, merges = [], []
        for run in range(args.repeat):
            compares.append(run_child("compare", data))
            merges.append(run_child("merge", data))
            print(f"run {run + 1}/{args.repeat}: compare {compares[-1]['seconds']:.2f} s wall, {compares[-1]['cpu_seconds']:.2f} s CPU "
                  f"(load {_loads(compares[-1])}); bare merge {merges[-1]['seconds']:.2f} s wall, {merges[-1]['cpu_seconds']:.2f} s CPU "
                  f"(load {_loads(merges[-1])}); CPU ratio {compares[-1]['cpu_seconds'] / merges[-1]['cpu_seconds']:.2f}x", file=sys.stderr)

    def median(results: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in results)

    def load(results: list[dict]) -> str:
        return f"load {min(min(r['load']) for r in results):.2f}-{max(max(r['load']) for r in results):.2f}"

    ratio = statistics.median(c["cpu_seconds"] / m["cpu_seconds"] for c, m in zip(compares, merges))

    seconds, peak, input_mb = median(compares, "seconds"), median(compares, "peak_mb"), median(compares, "input_mb")
    counts = compares[0]["counts"]
    peak_note = "" if compares[0]["peak_reset"] else " (VmHWM reset unavailable: whole-process peak)"
    print(f"\nFirst-sync compare of contacts: {args.records:,} records per side, 50% overlap, rows in "
          f"{'random' if args.shuffled else 'id'} order, {os.cpu_count()} CPUs, median of {args.repeat} run(s)")
    print(_table([
        ("compare (match + plan), wall", f"{seconds:8.2f} s    goal <= {GOAL_SECONDS:.0f} s  {'ok' if seconds <= GOAL_SECONDS else 'MISSED'}"
                                          f"  ({load(compares)})"),
        ("  match_records", f"{median(compares, 'match_seconds'):8.2f} s"),
        ("  plan_first_sync", f"{median(compares, 'plan_seconds'):8.2f} s"),
        ("  CPU time of the compare", f"{median(compares, 'cpu_seconds'):8.2f} s    ({load(compares)})"),
        ("bare pandas.merge on keys, wall", f"{median(merges, 'seconds'):8.2f} s    ({load(merges)})"),
        ("  CPU time of the merge", f"{median(merges, 'cpu_seconds'):8.2f} s    ({load(merges)})"),
        ("compare CPU / merge CPU", f"{ratio:8.2f} x    goal <= {GOAL_CPU_RATIO:.0f} x  {'ok' if ratio <= GOAL_CPU_RATIO else 'MISSED'}"
                                   f"  (median of the runs' ratios)"),
        ("input frames (RSS)", f"{input_mb:8.0f} MB"),
        ("peak RSS during compare", f"{peak:8.0f} MB    goal <= {GOAL_PEAK_MB:.0f} MB  {'ok' if peak <= GOAL_PEAK_MB else 'MISSED'}{peak_note}"
                                    f"  ({load(compares)})"),
        ("  increment over input", f"{peak - input_mb:8.0f} MB"),
        ("bare merge peak RSS", f"{median(merges, 'peak_mb'):8.0f} MB    (input {median(merges, 'input_mb'):.0f} MB: keys and ids only)"),
    ]))
    print("\nOutcome")
    print(_table([(name, f"{value:>10,}") for name, value in counts.items()]))


if __name__ == "__main__":
    main()
