"""Demo data: partly overlapping companies, contacts and deals in the sandbox and in a SQLite app.

Deterministic (seeded random) so two demo runs print the same summary. The overlap exercises the
first sync's rules:
- contacts: emails that differ only in case and surrounding space match (rule 6), contacts without
  a valid email are excluded (rule 5), differing names are conflicts won by the default app (rule 3),
  and fields empty on one side are filled from the other;
- companies: domains that differ only by scheme, ``www.``, path or case match, and so do names
  when one side has no domain (rule 6);
- deals: never matched, created on the other side;
- associations (rule 8): contacts have a primary company on both sides (some a second, unlabeled
  one in HubSpot, some a different or no company in the app), deals a company and a contact. Some
  deals point at a contact the contacts sync excludes (no valid email): those associations fail
  alone (``association_failed``) and the rest go on.

Associations are given as indexes into the other object's rows; ``setup.py`` turns them into ids.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import sqlalchemy as sa

FIRST_NAMES = ["Anna", "Ben", "Chiara", "Deniz", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Katrin", "Luca", "Mia", "Noah", "Olga", "Paul"]
LAST_NAMES = ["Schmidt", "Rossi", "Yilmaz", "Novak", "Dubois", "Berg", "Costa", "Jansen", "Kowalski", "Larsen", "Meyer", "Okafor"]
CITIES = ["Berlin", "Hamburg", "Munich", "Vienna", "Zurich", "Lyon", "Milan", None]
DOMAINS = ["example.com", "acme.io", "northwind.de", "contoso.org", "globex.net"]
COMPANY_WORDS = ["Alpen", "Baltic", "Cobalt", "Delta", "Elbe", "Fjord", "Granit", "Helix", "Isar", "Juno", "Kiefer", "Lumen",
                 "Merkur", "Nordlicht", "Orbit", "Polar", "Quarz", "Rhein", "Sonne", "Tauern", "Ulme", "Vega", "Weser", "Zenit"]
COMPANY_KINDS = ["Logistik", "Software", "Maschinenbau", "Energie", "Consulting", "Medien", "Bau", "Handel"]
INDUSTRIES = ["LOGISTICS_AND_SUPPLY_CHAIN", "COMPUTER_SOFTWARE", "MACHINERY", "RENEWABLES_ENVIRONMENT", None]
DEAL_PRODUCTS = ["licence", "renewal", "rollout", "support plan", "pilot", "training"]
DEAL_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent", "closedwon", "closedlost"]

CUSTOMER_COLUMNS = {
    "email": sa.String(320), "first_name": sa.String(100), "last_name": sa.String(100), "phone": sa.String(50),
    "company_name": sa.String(200), "job_title": sa.String(200), "city": sa.String(100), "country": sa.String(100),
}
COMPANY_COLUMNS = {
    "name": sa.String(200), "domain": sa.String(255), "website": sa.String(255), "phone": sa.String(50),
    "city": sa.String(100), "industry": sa.String(100), "employees": sa.Integer(),
}
DEAL_COLUMNS = {"name": sa.String(200), "amount": sa.Integer(), "pipeline": sa.String(100), "stage": sa.String(100)}
APP_COLUMNS = {"companies": COMPANY_COLUMNS, "contacts": CUSTOMER_COLUMNS, "deals": DEAL_COLUMNS}


@dataclass(frozen=True)
class DemoCounts:
    hubspot: int
    app: int
    shared: int


@dataclass(frozen=True)
class HubSpotLink:
    """An association to seed in HubSpot: row indexes into the two objects' seeded records."""

    from_object: str
    from_index: int
    to_object: str
    to_index: int
    primary: bool = False


@dataclass
class DemoData:
    """Rows of both sides per object; associations by row index into the associated object's rows."""

    hubspot: dict[str, list[dict]] = field(default_factory=dict)  # object -> HubSpot properties
    app: dict[str, list[dict]] = field(default_factory=dict)  # object -> app columns
    hubspot_links: list[HubSpotLink] = field(default_factory=list)
    app_links: dict[str, list[dict[str, int | None]]] = field(default_factory=dict)  # object -> per row: associated object -> row index
    counts: dict[str, DemoCounts] = field(default_factory=dict)


def demo_data(records_per_side: int, seed: int = 7) -> DemoData:
    """Companies (about a tenth), contacts and deals (about a fifth) on both sides, associated."""
    data = DemoData()
    hubspot_contacts, app_customers, contact_counts = demo_contacts(records_per_side, seed)
    data.hubspot["contacts"], data.app["contacts"], data.counts["contacts"] = hubspot_contacts, app_customers, contact_counts
    rng = random.Random(seed + 1)
    layout = _demo_companies(data, rng, max(records_per_side // 10, 4))
    _contact_companies(data, rng, layout, contact_counts)
    _demo_deals(data, rng, max(records_per_side // 5, 2))
    return data


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


@dataclass(frozen=True)
class _CompanyLayout:
    """Company entities 0..total: HubSpot holds [0, per_side), the app [per_side - shared, total)."""

    per_side: int
    shared: int

    @property
    def total(self) -> int:
        return 2 * self.per_side - self.shared

    @property
    def app_offset(self) -> int:
        return self.per_side - self.shared


def _company(index: int) -> dict:
    combinations = len(COMPANY_WORDS) * len(COMPANY_KINDS)
    word, kind = COMPANY_WORDS[index % len(COMPANY_WORDS)], COMPANY_KINDS[(index // len(COMPANY_WORDS)) % len(COMPANY_KINDS)]
    name = f"{word} {kind}" + (f" {index // combinations + 1}" if index >= combinations else "")
    return {"name": name, "domain": re.sub(r"[^a-z0-9]+", "-", name.lower()) + ".com"}


def _demo_companies(data: DemoData, rng: random.Random, per_side: int) -> _CompanyLayout:
    shared = per_side // 2
    entities = [_company(index) for index in range(2 * per_side - shared)]
    hubspot, app = [], []
    for index, entity in enumerate(entities[:per_side]):
        domain, variant = entity["domain"], index - (per_side - shared)
        if variant >= 0:  # on both sides: the same company written differently still matches (rule 6)
            domain = [f"https://www.{domain}", domain.upper(), f"www.{domain}/about", domain][variant % 4]
        hubspot.append({
            "name": entity["name"], "domain": domain, "city": rng.choice(CITIES), "industry": rng.choice(INDUSTRIES),
            "numberofemployees": rng.choice([12, 45, 180, 950, None]),
        })
    for index, entity in enumerate(entities[per_side - shared :]):
        name, domain = entity["name"], entity["domain"]
        if index < shared and index % 7 == 5:
            domain = None  # matches by name alone
        elif index < shared and index % 11 == 6:
            name = f"{name} GmbH"  # matches by domain; the names are a conflict
        app.append({
            "name": name, "domain": domain, "website": f"https://{entity['domain']}" if rng.random() < 0.5 else None,
            "phone": f"+49 40 {rng.randint(100000, 999999)}" if rng.random() < 0.5 else None,
            "city": rng.choice(CITIES), "employees": rng.choice([12, 45, 180, 950, None]),
        })
    data.hubspot["companies"], data.app["companies"] = hubspot, app
    data.counts["companies"] = DemoCounts(len(hubspot), len(app), shared)
    return _CompanyLayout(per_side, shared)


def _contact_companies(data: DemoData, rng: random.Random, layout: _CompanyLayout, counts: DemoCounts) -> None:
    """A company per person, from the companies on that person's sides; then each side's deviations."""
    first_shared_person = counts.hubspot - counts.shared
    company_of = []
    for person in range(counts.hubspot + counts.app - counts.shared):
        if first_shared_person <= person < counts.hubspot:
            company_of.append(rng.randrange(layout.app_offset, layout.per_side))
        elif person < first_shared_person:
            company_of.append(rng.randrange(0, layout.per_side))
        else:
            company_of.append(rng.randrange(layout.app_offset, layout.total))

    for index in range(counts.hubspot):
        if index % 9 == 4:
            continue  # no company in HubSpot: the app's fills it
        primary = company_of[index]
        data.hubspot_links.append(HubSpotLink("contacts", index, "companies", primary, primary=True))
        if index % 10 == 3:  # a second company: only the primary one syncs (rule 8)
            data.hubspot_links.append(HubSpotLink("contacts", index, "companies", (primary + 1) % layout.per_side))

    links = []
    for index in range(counts.app):
        person = index + first_shared_person
        company: int | None = company_of[person] - layout.app_offset
        if index % 11 == 5:
            company = None  # no company in the app: HubSpot's fills it
        elif index < counts.shared and index % 13 == 2:
            company = rng.randrange(0, len(data.app["companies"]))  # a different company: a conflict
        links.append({"companies": company})
    data.app_links["contacts"] = links


def _demo_deals(data: DemoData, rng: random.Random, per_side: int) -> None:
    """Deals on each side (never matched), each with a company and a contact of its side."""
    companies = {side: len(rows["companies"]) for side, rows in (("hubspot", data.hubspot), ("app", data.app))}
    contacts = {side: len(rows["contacts"]) for side, rows in (("hubspot", data.hubspot), ("app", data.app))}
    hubspot, app, app_links = [], [], []
    for index in range(per_side):
        company, contact = rng.randrange(companies["hubspot"]), rng.randrange(contacts["hubspot"])
        hubspot.append({
            "dealname": f"{data.hubspot['companies'][company]['name']} {rng.choice(DEAL_PRODUCTS)}",
            "amount": rng.choice([1200, 4800, 9900, 25000, None]), "pipeline": "default", "dealstage": rng.choice(DEAL_STAGES),
        })
        if index % 7 != 6:
            data.hubspot_links.append(HubSpotLink("deals", index, "companies", company, primary=True))
        if index % 5 != 4:
            data.hubspot_links.append(HubSpotLink("deals", index, "contacts", contact))
    for index in range(per_side):
        company, contact = rng.randrange(companies["app"]), rng.randrange(contacts["app"])
        app.append({
            "name": f"{data.app['companies'][company]['name']} {rng.choice(DEAL_PRODUCTS)}",
            "amount": rng.choice([1500, 3000, 7200, 18000, None]), "pipeline": "default", "stage": rng.choice(DEAL_STAGES),
        })
        app_links.append({"companies": company if index % 6 != 5 else None, "contacts": contact if index % 4 != 3 else None})
    data.hubspot["deals"], data.app["deals"], data.app_links["deals"] = hubspot, app, app_links
    data.counts["deals"] = DemoCounts(len(hubspot), len(app), 0)


# A second HubSpot portal (portal-to-portal sync): some of the first portal's contacts and companies, written
# differently, and people and companies of its own.
PORTAL_B_DOMAIN = "portal-b.example"


@dataclass
class PortalData:
    """Records of the second portal (HubSpot property names) and each contact's primary company (index or None)."""

    contacts: list[dict] = field(default_factory=list)
    companies: list[dict] = field(default_factory=list)
    primary_company: list[int | None] = field(default_factory=list)
    counts: dict[str, DemoCounts] = field(default_factory=dict)


def portal_b_data(data: DemoData, per_side: int, seed: int = 11) -> PortalData:
    """About ``per_side`` contacts: half of them people of the first portal (every other one of its contacts, with
    emails differently cased and some names that differ), half people of their own (never in the SQL app, so the
    two syncs into the first portal never create the same person twice); companies likewise, by domain or name."""
    rng = random.Random(seed)
    portal = PortalData()
    hubspot_companies = data.hubspot["companies"]
    shared_companies = hubspot_companies[::2][: max(per_side // 20, 2)]
    for index, company in enumerate(shared_companies):
        domain = company["domain"]
        portal.companies.append({"name": company["name"] if index % 3 else company["name"].upper(),
                                 "domain": None if index % 5 == 4 else f"https://{domain}" if "://" not in domain else domain,
                                 "city": rng.choice(CITIES), "phone": f"+41 44 {rng.randint(100000, 999999)}"})
    own_companies = max(per_side // 20, 2)
    for index in range(own_companies):
        name = f"{COMPANY_WORDS[index % len(COMPANY_WORDS)]} Portal {index + 1}"
        portal.companies.append({"name": name, "domain": f"{name.lower().replace(' ', '-')}.{PORTAL_B_DOMAIN}", "city": rng.choice(CITIES)})
    shared_people = [contact for contact in data.hubspot["contacts"][1::2] if contact.get("email") and "@" in contact["email"]]
    shared_people = shared_people[: per_side // 2]
    for index, contact in enumerate(shared_people):
        portal.contacts.append({
            "email": contact["email"].upper() if index % 4 == 0 else contact["email"],
            "firstname": contact["firstname"] + "e" if index % 8 == 1 else contact["firstname"],
            "lastname": contact["lastname"], "phone": f"+41 44 {rng.randint(1000000, 9999999)}" if rng.random() < 0.5 else None,
            "country": rng.choice(["CH", "DE", None]),
        })
    for index in range(per_side - len(shared_people)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        portal.contacts.append({"email": f"{first}.{last}.{index}@{PORTAL_B_DOMAIN}".lower(), "firstname": first, "lastname": last,
                                "city": rng.choice(CITIES), "jobtitle": rng.choice(["Buyer", "Engineer", None])})
    portal.primary_company = [None if index % 6 == 5 else rng.randrange(len(portal.companies)) for index in range(len(portal.contacts))]
    portal.counts = {"contacts": DemoCounts(len(data.hubspot["contacts"]), len(portal.contacts), len(shared_people)),
                     "companies": DemoCounts(len(hubspot_companies), len(portal.companies), len(shared_companies))}
    return portal
