"""A realistic ledger, fast: branches, volunteers (with access codes) and members.

Faker is slow (a few thousand rows a second), so it is called only to fill small pools
once: given and family names, streets, districts, other cities. A seeded `random.Random`
then combines the pools row by row, and the rows go to the database in bulk through the
raw DBAPI connection: ``executemany`` in chunks on SQLite, ``COPY … FROM STDIN`` on
PostgreSQL, all in one transaction. The database's triggers still write one history row
per member (``new → unverified|active``, reason ``seeded``). In the same transaction
`seed.meetings` adds a year of organisational life (roles, closed meetings, attendance).

Same ``seed``, ``locale`` and ``today`` give the same rows (ids included when seeded into
equal databases); the access codes are always truly random (`tasks.access.permissions`).

Seeding adds to what is there: branches of the same name are reused, ids continue after
the largest id, ledger numbers (``M0000001``) after the largest existing ``M…`` number.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from sqlalchemy import Engine

from outreach.db.models import BranchKind, Residence, Role
from outreach.db.machines import MemberStatus
from outreach.tasks.access.permissions import format_code, new_credentials
from outreach.seed.care import seed_care
from outreach.seed.common import REASON, Branch, SeedDb
from outreach.seed.meetings import seed_meetings

CHUNK = 50_000
#: Rough share of members who live elsewhere, are homebound, were confirmed (active).
AWAY_SHARE = 0.20
ACTIVE_SHARE = 0.75
FAMILY_SHARE = 0.90
INTEREST_MEMBER_SHARE = 0.15

MEMBER_COLUMNS = (
    "id", "ledger_no", "name", "birth_date", "phone", "home_address", "current_address",
    "residence", "homebound", "family_contact_name", "family_contact_phone", "branch_id",
    "interests", "needs", "status", "status_by", "status_reason", "phone_verified_on",
    "address_verified_on", "family_contact_verified_on", "confirmed_on", "last_contact_on",
    "last_reached_on", "last_reached_by", "failed_contacts", "version", "created_at",
)
VOLUNTEER_COLUMNS = (
    "id", "name", "branch_id", "role", "capacity", "active", "code_salt", "code_hash",
    "failed_logins", "created_at", "coordinator_since",
)

# (interest as stored on a member, its group's branch name)
_INTERESTS = {
    "en_US": [
        ("calligraphy", "Calligraphy Group"), ("choir", "Choir"), ("tai chi", "Tai Chi Group"),
        ("chess", "Chess Club"), ("painting", "Painting Circle"), ("gardening", "Garden Club"),
        ("dance", "Dance Group"), ("photography", "Photography Club"),
    ],
    "zh_CN": [
        ("书画", "书画协会"), ("体育", "老年体育协会"), ("太极拳", "太极拳队"),
        ("合唱", "合唱团"), ("舞蹈", "舞蹈队"), ("摄影", "摄影协会"), ("门球", "门球队"),
        ("棋牌", "棋牌协会"),
    ],
}
#: zh_CN: the branches of a 街道 (sub-district) are its 社区 (communities); these are
#: common names of both (the seed combines them with Faker's districts and cities).
_STREET_OFFICES = ("朝阳", "东风", "新华", "解放", "人民路", "中山", "长安", "和平", "建国",
                   "延安", "红旗", "胜利")
_COMMUNITIES = (
    "幸福里", "和平里", "光明", "新华", "胜利", "建设", "向阳", "团结", "长青", "民主",
    "振兴", "文化", "兴华", "友谊", "花园", "青年路", "育才", "富强", "安康", "和谐", "春晖",
    "金桥", "锦绣", "东湖", "西苑", "南苑", "北苑", "滨河", "翠竹", "杏林", "松鹤", "康乐",
    "红星", "工农", "前进", "百花", "丽景", "阳光", "怡园", "桃园", "梅园", "枫林", "银杏",
    "芙蓉", "荷花池", "紫薇",
)
_NEEDS = {
    "en_US": [
        "large print materials", "hard of hearing: speak slowly and clearly",
        "uses a wheelchair", "needs help with stairs", "prefers morning visits",
        "diabetic: no sweets", "lives alone", "call the family contact before visiting",
        "recordings instead of print (poor eyesight)",
    ],
    "zh_CN": [
        "需要大字版材料", "听力不好，请大声慢讲", "使用轮椅", "上下楼需要搀扶", "上午探访为宜",
        "糖尿病，勿带甜食", "独居老人", "探访前请先联系家属", "视力差，请送录音材料",
    ],
}
_GROUPS_PER_LEDGER = 6


@dataclass
class SeedResult:
    """What a seeding added. ``volunteers`` counts coordinators too."""

    branches: int = 0
    members: int = 0
    volunteers: int = 0
    coordinators: int = 0
    away: int = 0
    homebound: int = 0
    active: int = 0
    #: A year of organisational life (`seed.meetings`): meetings, attendance rows, of
    #: which made up, branch roles.
    meetings: int = 0
    attendance: int = 0
    made_up: int = 0
    roles: int = 0
    #: Care (`seed.care`): contributions, and movements of the members living away.
    contributions: int = 0
    movements: int = 0
    #: (volunteer_id, name, role, branch_name, access code) of every volunteer added.
    codes: list[tuple[int, str, str, str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- pools


def _clean(s: str) -> str:
    """Pool values go into COPY text unescaped: drop the characters it would need escaped."""
    return " ".join(s.replace("\\", " ").split())


def _unique(make, n: int, tries: int) -> list[str]:
    seen: dict[str, None] = {}
    for _ in range(tries):
        seen.setdefault(_clean(make()), None)
        if len(seen) >= n:
            break
    return list(seen)


class _Pools:
    """Everything Faker contributes, drawn once."""

    def __init__(self, locale: str, seed: int | None, rng: random.Random):
        from faker import Faker

        fk = Faker(locale)
        fk.seed_instance(seed if seed is not None else rng.getrandbits(64))
        self.zh = locale.startswith("zh")
        #: zh_CN: the locality of each 街道 (committee) of the seed, by its index.
        self.places: list[str] = []
        self.male = _unique(fk.first_name_male, 800, 1500)
        self.female = _unique(fk.first_name_female, 800, 1500)
        self.last = _unique(fk.last_name, 1000, 2500)
        if self.zh:  # Faker's zh_CN has ~130 given names: add two-character combinations.
            chars_m = sorted({c for n in self.male for c in n})
            chars_f = sorted({c for n in self.female for c in n})
            self.male += sorted({rng.choice(chars_m) + rng.choice(chars_m) for _ in range(800)})
            self.female += sorted({rng.choice(chars_f) + rng.choice(chars_f)
                                   for _ in range(800)})
        self.streets = _unique(fk.street_name, 1000, 1500)
        if self.zh:
            self.city = _clean(fk.city_name()) + "市"
            self.districts = _unique(fk.district, 200, 1000)
            self.away_places = []
            for _ in range(300):
                city = _clean(fk.city_name()) + "市"
                if self.city not in city:
                    self.away_places.append(f"{city}{_clean(fk.district())}区")
            self.area_codes = sorted({_clean(fk.phone_number())[:3] for _ in range(200)})
        else:
            self.state = fk.state_abbr(include_territories=False)
            self.city = _clean(fk.city())
            self.districts = [d for d in _unique(fk.city, 200, 400) if d != self.city]
            self.zips = sorted({fk.zipcode_in_state(self.state) for _ in range(100)})
            self.away_places = []
            for _ in range(300):
                city, st = _clean(fk.city()), fk.state_abbr(include_territories=False)
                if self.city not in city:
                    self.away_places.append(f"{city}, {st} {fk.zipcode_in_state(st)}")
            self.area_codes = [str(rng.randrange(201, 990)) for _ in range(3)]
            self.away_area_codes = [str(rng.randrange(201, 990)) for _ in range(200)]


# --------------------------------------------------------------------------- branches


def _plan_branches(pools: _Pools, locale: str, members: int, rng: random.Random):
    """(committees, geographic [(name, parent index)], interest [(interest, name)])."""
    n_geo = max(3, min(40, members // 2500 + 3, len(pools.districts)))
    n_committees = 1 if n_geo <= 6 else 2
    if pools.zh:
        # A 街道 (or two, of one district) with its 社区 branches, e.g. 徐汇区东风街道党工委
        # over 幸福里社区党支部; the interest groups (书画协会 …) under the first.
        district = rng.choice(pools.districts)
        committees = [f"{district}区{o}街道党工委"
                      for o in rng.sample(_STREET_OFFICES, n_committees)]
        geo = [(f"{c}社区党支部", i * n_committees // n_geo)
               for i, c in enumerate(rng.sample(_COMMUNITIES, n_geo))]
        pools.places = [f"{pools.city}{district}区"] * n_committees
        return committees, geo, _INTERESTS[locale][:_GROUPS_PER_LEDGER]
    committees = [f"{pools.city} {side} Committee" for side in ("East", "West")[:n_committees]]
    districts = rng.sample(pools.districts, n_geo)
    geo = [(f"{d} District", i * n_committees // n_geo) for i, d in enumerate(districts)]
    interests = _INTERESTS.get(locale, _INTERESTS["en_US"])[:_GROUPS_PER_LEDGER]
    return committees, geo, interests


def _ensure_branches(db: SeedDb, pools: _Pools, locale: str, members: int,
                     rng: random.Random) -> tuple[list[Branch], list[Branch], list[Branch]]:
    committees, geo, interests = _plan_branches(pools, locale, members, rng)
    existing = {name: (bid, kind) for bid, name, kind in
                db.rows("SELECT id, name, kind FROM branches")}

    def get(name: str, kind: str, parent: int | None) -> Branch:
        if name in existing:
            return Branch(existing[name][0], name, existing[name][1])
        bid = db.insert_returning_id("branches", ("name", "kind", "parent_id"),
                                     (name, kind, parent))
        existing[name] = (bid, kind)
        return Branch(bid, name, kind)

    com = [get(n, BranchKind.COMMITTEE.value, None) for n in committees]
    geos = []
    for name, parent in geo:
        b = get(name, BranchKind.GEOGRAPHIC.value, com[parent].id)
        if pools.zh:
            b.place = pools.places[parent]  # the district of its 街道
        else:
            b.place = f", {pools.city}, {pools.state} {rng.choice(pools.zips)}"
        geos.append(b)
    groups = []
    for interest, name in interests:
        b = get(name, BranchKind.INTEREST.value, com[0].id)
        b.interest = interest
        groups.append(b)
    return com, geos, groups


# --------------------------------------------------------------------------- volunteers


def _volunteer_rows(db: SeedDb, pools: _Pools, rng: random.Random, count: int,
                    com: list[Branch], geos: list[Branch], groups: list[Branch],
                    geo_weights: list[float], created_at: str, result: SeedResult):
    """Rows of the volunteers table, and for each branch id the volunteer ids in it."""
    subs = geos + groups
    coord_branches = list(com) + [subs[i] for i in range(0, len(subs), 5)]
    count = max(count, len(coord_branches))
    start = db.next_id("volunteers")
    # Plain volunteers spread over branches in proportion to the members there.
    weights = [w * (1 - INTEREST_MEMBER_SHARE) for w in geo_weights] + \
              [INTEREST_MEMBER_SHARE / max(1, len(groups))] * len(groups)
    plain = count - len(coord_branches)
    homes = coord_branches + rng.choices(subs, weights=weights, k=plain)
    rows, by_branch = [], {}
    zh = pools.zh
    for i, branch in enumerate(homes):
        vid = start + i
        role = Role.COORDINATOR.value if i < len(coord_branches) else Role.VOLUNTEER.value
        female = rng.random() < 0.6
        given = rng.choice(pools.female if female else pools.male)
        family = rng.choice(pools.last)
        name = f"{family}{given}" if zh else f"{given} {family}"
        capacity = rng.randint(10, 40)
        secret, salt, digest = new_credentials()
        since = created_at if role == Role.COORDINATOR.value else None  # the two-person rule
        rows.append((vid, name, branch.id, role, capacity, True, salt, digest, 0, created_at,
                     since))
        by_branch.setdefault(branch.id, []).append(vid)
        result.codes.append((vid, name, role, branch.name, format_code(vid, secret)))
    result.volunteers = len(rows)
    result.coordinators = len(coord_branches)
    return rows, by_branch


# --------------------------------------------------------------------------- members


def _year_back(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _lookup(weights: Sequence[float], size: int = 4096) -> list[int]:
    """A table whose uniformly drawn entry is index i with probability ~ weights[i]."""
    total = sum(weights)
    table: list[int] = []
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        table.extend([i] * (round(acc / total * size) - len(table)))
    return table or [0]


def _member_chunks(*, rng: random.Random, pools: _Pools, locale: str, n: int, start_id: int,
                   start_no: int, geos: list[Branch], groups: list[Branch],
                   geo_weights: list[float], by_branch: dict[int, list[int]],
                   all_volunteers: list[int], today: dt.date, created_at: str,
                   result: SeedResult) -> Iterator[list[tuple]]:
    rnd = rng.random
    zh = pools.zh
    male, female, last = pools.male, pools.female, pools.last
    n_male, n_female, n_last = len(male), len(female), len(last)
    streets, n_streets = pools.streets, len(pools.streets)
    away_places, n_away = pools.away_places, len(pools.away_places)
    needs = _NEEDS.get(locale, _NEEDS["en_US"])
    n_needs = len(needs)

    # Day strings, indexed by days before today (birth dates need ~96 years).
    oldest = _year_back(today, 96) + dt.timedelta(days=1)
    youngest = _year_back(today, 60)
    span_back = (today - oldest).days
    day = [(today - dt.timedelta(days=k)).isoformat() for k in range(span_back + 1)]
    birth_lo = (today - youngest).days          # days back of the youngest birth date
    birth_span = span_back - birth_lo           # ages 60 … 95

    # Interests: a pool of comma-joined lists, and per group a pool that includes it.
    labels = [g.interest for g in groups] or [i for i, _ in _INTERESTS["en_US"]]
    free_pool = []
    for _ in range(1024):
        k = rng.choices((0, 1, 2, 3), weights=(40, 35, 18, 7))[0]
        free_pool.append(",".join(sorted(rng.sample(labels, k))) or None)
    group_pool = []
    for g in groups:
        pool = []
        for _ in range(64):
            others = [x for x in labels if x != g.interest]
            pool.append(",".join(sorted([g.interest] + rng.sample(others, rng.randint(0, 2)))))
        group_pool.append(pool)

    geo_table = _lookup(geo_weights)
    n_geo_table = len(geo_table)
    n_groups = len(groups)
    vol_lists = {b.id: by_branch.get(b.id) or all_volunteers for b in geos + groups}

    if zh:
        area = pools.area_codes
        away_area = area
    else:
        area = pools.area_codes
        away_area = pools.away_area_codes
    n_area, n_away_area = len(area), len(away_area)
    ledger_fmt = "M{:07d}".format

    away_count = homebound_count = active_count = 0
    active_s, unverified_s = MemberStatus.ACTIVE.value, MemberStatus.UNVERIFIED.value
    local_s, away_s = Residence.LOCAL.value, Residence.AWAY.value

    def phone(codes, n_codes):
        if zh:
            return f"{codes[int(rnd() * n_codes)]}{int(rnd() * 100_000_000):08d}"
        return (f"({codes[int(rnd() * n_codes)]}) {int(rnd() * 800) + 200}-"
                f"{int(rnd() * 10_000):04d}")

    done = 0
    while done < n:
        size = min(CHUNK, n - done)
        chunk = []
        append = chunk.append
        for i in range(done, done + size):
            # Who
            is_female = rnd() < 0.56
            family = last[int(rnd() * n_last)]
            given = female[int(rnd() * n_female)] if is_female else male[int(rnd() * n_male)]
            name = family + given if zh else given + " " + family
            u = rnd()
            age_frac = u ** 1.3                      # more 60–75-year-olds than 90-year-olds
            birth = day[birth_lo + int(age_frac * birth_span)]
            homebound = rnd() < 0.04 + 0.14 * age_frac  # ~10%, more among the oldest

            # Where: branch, home address, and for ~1/5 a current address elsewhere
            if rnd() < INTEREST_MEMBER_SHARE and n_groups:
                g = int(rnd() * n_groups)
                branch = groups[g]
                place = geos[geo_table[int(rnd() * n_geo_table)]].place
                pool = group_pool[g]
                interests = pool[int(rnd() * len(pool))]
            else:
                branch = geos[geo_table[int(rnd() * n_geo_table)]]
                place = branch.place
                interests = free_pool[int(rnd() * 1024)]
            street = streets[int(rnd() * n_streets)]
            num = int(rnd() * 1200) + 1
            if zh:
                home = (f"{place}{street}{num}号{int(rnd() * 30) + 1}栋"
                        f"{int(rnd() * 6) + 1}0{int(rnd() * 4) + 1}室")
            else:
                home = f"{num} {street}{place}"
            if rnd() < AWAY_SHARE:
                away_count += 1
                residence = away_s
                other = away_places[int(rnd() * n_away)]
                street = streets[int(rnd() * n_streets)]
                num = int(rnd() * 1200) + 1
                current = (f"{other}{street}{num}号" if zh else f"{num} {street}, {other}")
                tel = phone(away_area, n_away_area) if rnd() < 0.5 else phone(area, n_area)
            else:
                residence = local_s
                current = None
                tel = phone(area, n_area)
            if homebound:
                homebound_count += 1
                need = needs[int(rnd() * n_needs)] if rnd() < 0.7 else None
            else:
                need = needs[int(rnd() * n_needs)] if rnd() < 0.05 else None

            # Family: children carry the father's family name, often the member's
            if rnd() < FAMILY_SHARE:
                same = rnd() < (0.5 if is_female else 0.85)
                fam_family = family if same else last[int(rnd() * n_last)]
                fam_given = (female[int(rnd() * n_female)] if rnd() < 0.5
                             else male[int(rnd() * n_male)])
                fam_name = fam_family + fam_given if zh else fam_given + " " + fam_family
                fam_phone = (phone(away_area, n_away_area) if rnd() < 0.4
                             else phone(area, n_area))
            else:
                fam_name = fam_phone = None

            # State: most confirmed within ~2 years, some reached since
            failed = 0
            if rnd() < ACTIVE_SHARE:
                active_count += 1
                status = active_s
                back = int(rnd() * 730)
                confirmed = day[back]
                phone_v = confirmed
                fam_v = confirmed if fam_name else None
                if rnd() < 0.6:
                    back = int(rnd() * (back + 1))
                    reached = day[back]
                    vols = vol_lists[branch.id]
                    reached_by = vols[int(rnd() * len(vols))]
                    phone_v = reached
                else:
                    reached = reached_by = None
                contact = reached or confirmed
                if rnd() < 0.08:
                    failed = 1 + int(rnd() * 2)
                    contact = day[int(rnd() * (back + 1))]
            else:
                status = unverified_s
                confirmed = phone_v = fam_v = reached = reached_by = contact = None
                if rnd() < 0.2:
                    failed = 1 + int(rnd() * 2)
                    contact = day[int(rnd() * 120)]
            append((start_id + i, ledger_fmt(start_no + i), name, birth, tel, home, current,
                    residence, homebound, fam_name, fam_phone, branch.id, interests, need,
                    status, None, REASON, phone_v, confirmed, fam_v, confirmed, contact,
                    reached, reached_by, failed, 1, created_at))
        done += size
        yield chunk
    result.members = n
    result.away = away_count
    result.homebound = homebound_count
    result.active = active_count


# --------------------------------------------------------------------------- entry point


def seed_ledger(engine: Engine, *, members: int, volunteers: int | None = None,
                seed: int | None = None, locale: str = "en_US",
                today: dt.date | None = None, meetings: bool = True,
                care: bool = True) -> SeedResult:
    """Add a realistic ledger to a migrated database, in one transaction.

    ``meetings``: also a year of organisational life for the new members
    (`seed.meetings`: branch roles, closed meetings, attendance). ``care``: also
    contributions, movements of the members living away, a few hardships and life events
    (`seed.care`).

    ``volunteers`` (default ``max(3, members // 40)``) counts coordinators too: one per
    committee and one per five other branches, raised to that number if smaller.
    """
    if members < 0:
        raise ValueError("members must be >= 0")
    if locale not in _INTERESTS:
        raise ValueError(f"unsupported locale {locale!r} (use one of {sorted(_INTERESTS)})")
    today = today or dt.date.today()
    rng = random.Random(seed)
    pools = _Pools(locale, seed, rng)
    created_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    n_volunteers = max(3, members // 40) if volunteers is None else volunteers
    result = SeedResult()

    db = SeedDb(engine)
    ok = False
    try:
        db.begin()
        com, geos, groups = _ensure_branches(db, pools, locale, members, rng)
        result.branches = len(com) + len(geos) + len(groups)
        # Uneven district sizes: a few large ones, many middling.
        geo_weights = [0.4 + rng.random() ** 2 * 1.6 for _ in geos]
        vrows, by_branch = _volunteer_rows(db, pools, rng, n_volunteers, com, geos, groups,
                                           geo_weights, created_at, result)
        db.bulk("volunteers", VOLUNTEER_COLUMNS, iter([vrows]))
        all_volunteers = [r[0] for r in vrows]
        first_member = db.next_id("members")
        chunks = _member_chunks(
            rng=rng, pools=pools, locale=locale, n=members, start_id=first_member,
            start_no=db.max_ledger_number() + 1, geos=geos, groups=groups,
            geo_weights=geo_weights, by_branch=by_branch, all_volunteers=all_volunteers,
            today=today, created_at=created_at, result=result)
        db.bulk("members", MEMBER_COLUMNS, chunks)
        db.sync_sequences()
        if meetings:
            life = seed_meetings(db, branches=geos + groups, first_member=first_member,
                                 last_member=first_member + members - 1, today=today,
                                 rng=random.Random(rng.getrandbits(64)),
                                 created_at=created_at, locale=locale)
            result.meetings, result.attendance = life.meetings, life.attendance
            result.made_up, result.roles = life.made_up, life.roles
        if care:
            cared = seed_care(db, first_member=first_member,
                              last_member=first_member + members - 1, today=today,
                              created_at=created_at)
            result.contributions, result.movements = cared.contributions, cared.movements
        ok = True
    finally:
        db.finish(ok)
    return result


__all__ = ["SeedResult", "seed_ledger"]
