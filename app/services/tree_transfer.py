"""Two deployments that merge (two provinces that each ran their own): `handbook export-tree`
writes one deployment's subtree with its members, roles and membership history as JSON;
`handbook import-tree` brings it under an org of the other deployment.

Members are keyed by party card number. The import is all or nothing: it first lists every
conflict (a card number or a phone already held by a member here, an org code already used,
a role or period naming a member or org outside the file) and imports nothing while there is
one; otherwise it writes everything in one transaction, with new ids, paths under the
destination, and history that says where each member was (and since when).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.models import (
    Member,
    MembershipPeriod,
    Org,
    OrgKind,
    OrgPlacement,
    Role,
    RoleGrant,
)
from app.models.base import utcnow
from app.services import access, audit
from app.services import members as member_service
from app.services import orgs as org_service

FORMAT = "handbook-tree/1"
_MEMBER_FIELDS = (
    "full_name",
    "phone",
    "party_card_number",
    "status",
    "is_exempt",
    "exempt_since",
    "date_of_birth",
    "gender",
    "joined_date",
    "official_date",
    "archived_on",
    "archive_reason",
)
_DATES = {"exempt_since", "date_of_birth", "joined_date", "official_date", "archived_on"}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


async def export_tree(session: AsyncSession, org_id: int) -> dict[str, Any]:
    """The subtree of `org_id`: orgs (in tree order), members, live roles, periods."""
    root = await session.get(Org, org_id)
    if root is None:
        raise NotFound(code="org.not_found")
    lo, hi = access.subtree_range(root.path)
    orgs = list(
        await session.scalars(select(Org).where(Org.path >= lo, Org.path < hi).order_by(Org.path))
    )
    org_ids = {o.id for o in orgs}
    members = list(
        await session.scalars(
            select(Member).where(Member.branch_id.in_(org_ids)).order_by(Member.id)
        )
    )
    member_ids = {m.id for m in members}
    grants = list(
        await session.scalars(
            select(RoleGrant)
            .where(RoleGrant.org_id.in_(org_ids), RoleGrant.revoked_at.is_(None))
            .order_by(RoleGrant.id)
        )
    )
    periods = list(
        await session.scalars(
            select(MembershipPeriod)
            .where(MembershipPeriod.member_id.in_(member_ids))
            .order_by(MembershipPeriod.id)
        )
    )
    return {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "root_id": root.id,
        "orgs": [
            {
                "id": o.id,
                "parent_id": o.parent_id if o.id != root.id else None,
                "kind": o.kind,
                "name": o.name,
                "code": o.code,
                "is_active": o.is_active,
                "has_residence_attendees": o.has_residence_attendees,
            }
            for o in orgs
        ],
        "members": [
            {
                "id": m.id,
                "branch_id": m.branch_id,
                **{
                    name: _iso(getattr(m, name)) if name in _DATES else getattr(m, name)
                    for name in _MEMBER_FIELDS
                },
            }
            for m in members
        ],
        "roles": [
            {"member_id": g.member_id, "org_id": g.org_id, "role": g.role}
            for g in grants
            if g.member_id in member_ids
        ],
        "periods": [
            {
                "member_id": p.member_id,
                "org_id": p.org_id,
                "kind": p.kind,
                "status": p.status,
                "is_exempt": p.is_exempt,
                "exemption_ref": p.exemption_ref,
                "valid_from": _iso(p.valid_from),
                "valid_to": _iso(p.valid_to),
            }
            for p in periods
            if p.org_id in org_ids
        ],
    }


@dataclass
class ImportReport:
    orgs: int = 0
    members: int = 0
    roles: int = 0
    periods: int = 0
    conflicts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts


async def _conflicts(session: AsyncSession, data: dict[str, Any], under: Org) -> list[str]:
    found: list[str] = []
    if data.get("format") != FORMAT:
        return [f"unknown format {data.get('format')!r} (expected {FORMAT})"]
    if under.kind == OrgKind.BRANCH:
        found.append(f"org {under.id} is a branch: nothing can be placed under it")
    org_ids = {o["id"] for o in data["orgs"]}
    member_ids = {m["id"] for m in data["members"]}
    for o in data["orgs"][1:]:
        if o["parent_id"] not in org_ids:
            found.append(f"org {o['id']}: its parent {o['parent_id']} is not in the file")
    codes = [o["code"] for o in data["orgs"] if o.get("code")]
    if codes:
        taken = await session.scalars(select(Org.code).where(Org.code.in_(codes)))
        found += [f"org code {code} is already used here" for code in taken]
    cards = [m["party_card_number"] for m in data["members"] if m.get("party_card_number")]
    if cards:
        rows = await session.execute(
            select(Member.party_card_number, Member.id, Member.full_name).where(
                Member.party_card_number.in_(cards)
            )
        )
        found += [f"card {card} is already member {mid} here ({name})" for card, mid, name in rows]
    phones = [m["phone"] for m in data["members"] if m.get("phone")]
    if phones:
        holders = await session.execute(
            select(Member.phone, Member.id).where(Member.phone.in_(phones))
        )
        found += [f"phone {phone} already belongs to member {mid} here" for phone, mid in holders]
    for m in data["members"]:
        if m["branch_id"] not in org_ids:
            found.append(f"member {m['id']}: branch {m['branch_id']} is not in the file")
    for r in data["roles"]:
        if r["member_id"] not in member_ids or r["org_id"] not in org_ids:
            found.append(f"role {r['role']} of member {r['member_id']} on {r['org_id']}: outside")
        elif r["role"] == Role.DEPLOYMENT_ADMIN:
            found.append(f"member {r['member_id']} is a deployment admin there: not imported")
    for p in data["periods"]:
        if p["member_id"] not in member_ids or p["org_id"] not in org_ids:
            found.append(f"a period of member {p['member_id']} names org {p['org_id']}: outside")
    return found


async def import_tree(
    session: AsyncSession, data: dict[str, Any], under_id: int, *, dry_run: bool = False
) -> ImportReport:
    """Bring an exported subtree under org `under_id`. Nothing is written while there is a
    conflict (the report lists them all) or with `dry_run`; the caller commits."""
    under = await session.get(Org, under_id, with_for_update=True)
    if under is None:
        raise NotFound(code="org.not_found")
    report = ImportReport(conflicts=await _conflicts(session, data, under))
    if report.conflicts or dry_run:
        return report
    new_org: dict[int, Org] = {}
    for o in data["orgs"]:
        parent = under if o["parent_id"] is None else new_org[o["parent_id"]]
        org = await org_service.insert_org(
            session, parent, kind=OrgKind(o["kind"]), name=o["name"], code=o.get("code")
        )
        org.is_active = bool(o.get("is_active", True))
        org.has_residence_attendees = bool(o.get("has_residence_attendees", False))
        session.add(OrgPlacement(org_id=org.id, parent_id=parent.id, lineage=org.path))
        new_org[o["id"]] = org
    report.orgs = len(new_org)
    new_member: dict[int, Member] = {}
    for m in data["members"]:
        fields = {name: m.get(name) for name in _MEMBER_FIELDS if name != "full_name"}
        for name in _DATES:
            fields[name] = _day(fields[name])
        fields["is_locked"] = fields["archived_on"] is not None
        member = member_service.new_member(new_org[m["branch_id"]], m["full_name"], **fields)
        session.add(member)
        new_member[m["id"]] = member
    await session.flush()
    report.members = len(new_member)
    # Members without periods in the file read as "in their branch since always" (as here).
    for p in data["periods"]:
        session.add(
            MembershipPeriod(
                member_id=new_member[p["member_id"]].id,
                org_id=new_org[p["org_id"]].id,
                kind=p["kind"],
                status=p["status"],
                is_exempt=p["is_exempt"],
                exemption_ref=p.get("exemption_ref"),
                valid_from=_day(p.get("valid_from")),
                valid_to=_day(p.get("valid_to")),
            )
        )
        report.periods += 1
    now = utcnow()
    for r in data["roles"]:
        session.add(
            RoleGrant(
                member_id=new_member[r["member_id"]].id,
                org_id=new_org[r["org_id"]].id,
                role=r["role"],
                granted_at=now,
            )
        )
        report.roles += 1
    await session.flush()
    root = new_org[data["orgs"][0]["id"]]
    await audit.record(
        session,
        None,
        "org.import_tree",
        target=("org", root.id),
        org_id=root.id,
        detail={
            "under_id": under.id,
            "source_root_id": data.get("root_id"),
            "orgs": report.orgs,
            "members": report.members,
            "roles": report.roles,
            "periods": report.periods,
        },
    )
    return report
