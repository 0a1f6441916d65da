"""Demo data: a few thousand partly overlapping contacts in the sandbox and in a SQLite app table.

Deterministic (seeded random) so two demo runs print the same summary. The overlap exercises the
first sync's rules: emails that differ only in case and surrounding space match (rule 6), contacts
without a valid email are excluded (rule 5), differing names are conflicts won by the default app
(rule 3), and fields empty on one side are filled from the other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sqlalchemy as sa

FIRST_NAMES = ["Anna", "Ben", "Chiara", "Deniz", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Katrin", "Luca", "Mia", "Noah", "Olga", "Paul"]
LAST_NAMES = ["Schmidt", "Rossi", "Yilmaz", "Novak", "Dubois", "Berg", "Costa", "Jansen", "Kowalski", "Larsen", "Meyer", "Okafor"]
CITIES = ["Berlin", "Hamburg", "Munich", "Vienna", "Zurich", "Lyon", "Milan", None]
DOMAINS = ["example.com", "acme.io", "northwind.de", "contoso.org", "globex.net"]
CUSTOMER_COLUMNS = {
    "email": sa.String(320), "first_name": sa.String(100), "last_name": sa.String(100), "phone": sa.String(50),
    "company_name": sa.String(200), "job_title": sa.String(200), "city": sa.String(100), "country": sa.String(100),
}


@dataclass(frozen=True)
class DemoCounts:
    hubspot: int
    app: int
    shared: int


def demo_contacts(records_per_side: int, seed: int = 7) -> tuple[list[dict], list[dict], DemoCounts]:
    """HubSpot contacts (property names) and app customers (column names), half of them shared."""
    rng = random.Random(seed)
    shared = records_per_side // 2
    people = [_person(rng, index) for index in range(2 * records_per_side - shared)]
    hubspot_people = people[:records_per_side]
    app_people = people[records_per_side - shared :]

    hubspot = []
    for index, person in enumerate(hubspot_people):
        email = person["email"]
        if index % 50 == 7:
            email = None  # no email: "no unique identity"
        elif index % 97 == 3:
            email = email.replace("@", "_at_")  # not a valid address
        hubspot.append({
            "email": email, "firstname": person["first"], "lastname": person["last"],
            "city": person["city"] if rng.random() < 0.6 else None, "jobtitle": rng.choice(["CEO", "CTO", "Buyer", None]),
        })

    app = []
    for index, person in enumerate(app_people):
        email = person["email"]
        if index < shared and index % 5 == 0:
            email = f"  {email.upper()} "  # same contact, written differently: still a match
        if index % 60 == 11:
            email = None
        first = person["first"]
        if index < shared and index % 9 == 0:
            first = first + "a"  # a conflict: the default app's value wins
        app.append({
            "email": email, "first_name": first, "last_name": person["last"],
            "phone": f"+49 30 {rng.randint(1000000, 9999999)}" if rng.random() < 0.7 else None,
            "city": person["city"], "country": rng.choice(["DE", "AT", "CH", None]),
            "company_name": rng.choice(["Acme", "Northwind", "Globex", None]),
        })
    return hubspot, app, DemoCounts(len(hubspot), len(app), shared)


def _person(rng: random.Random, index: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {"first": first, "last": last, "city": rng.choice(CITIES),
            "email": f"{first}.{last}.{index}@{rng.choice(DOMAINS)}".lower()}
