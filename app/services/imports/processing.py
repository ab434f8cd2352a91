"""Deciding and writing a batch of checked rows: the upsert keyed by party card number.

For each good row: the member with that card number (read `FOR UPDATE` when applying) and the
owner of its phone decide the outcome: `created`, `updated`, `unchanged`, or refused (the card
belongs to a member of another branch: transfers are not done by import; the phone is another
member's). Empty cells never erase a stored value, so a re-import of the same file is unchanged.

Applying writes a batch in a SAVEPOINT; when the database refuses it (another import or an edit
took a card number or a phone meanwhile), the batch is rolled back and its rows are done one by
one, each in its own SAVEPOINT, so a bad row never takes good ones with it and nothing is
half-written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Member, MemberStatus
from app.services.imports.checking import Branch, CheckedRow, Problem

FIELDS: Final = (
    "full_name",
    "date_of_birth",
    "gender",
    "phone",
    "status",
    "joined_date",
    "official_date",
    "is_exempt",
)
CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
OUTCOMES: Final = (CREATED, UPDATED, UNCHANGED, REJECTED)

_m = Member.__table__
_member_table = cast(Table, Member.__table__)
_EXISTING = (_m.c.id, _m.c.party_card_number, _m.c.branch_id, *(_m.c[f] for f in FIELDS))


@dataclass(slots=True)
class Decision:
    row: CheckedRow
    outcome: str
    member_id: int | None = None
    values: dict[str, Any] | None = None  # the insert's row, or the update's changed columns


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, datetime):
        old = old.date()
    return bool(old != new)


async def _existing(
    session: AsyncSession, cards: list[str], *, lock: bool
) -> dict[str, dict[str, Any]]:
    if not cards:
        return {}
    query = select(*_EXISTING).where(_m.c.party_card_number.in_(cards))
    if lock:
        query = query.with_for_update()
    rows = (await session.execute(query)).mappings()
    return {row["party_card_number"]: dict(row) for row in rows}


async def _phone_owners(session: AsyncSession, phones: list[str]) -> dict[str, int]:
    if not phones:
        return {}
    rows = await session.execute(select(_m.c.phone, _m.c.id).where(_m.c.phone.in_(phones)))
    return {str(phone): int(member_id) for phone, member_id in rows.all()}


def _new_member(row: CheckedRow, branch: Branch, now: datetime) -> dict[str, Any]:
    fields = row.fields
    name = fields["full_name"]
    exempt = bool(fields.get("is_exempt", False))
    return {
        "branch_id": branch.id,
        "org_path": branch.path,
        "full_name": name,
        "name_folded": row.keys[0],
        "sort_key": row.keys[1],
        "phone": fields.get("phone"),
        "party_card_number": row.card,
        "status": fields.get("status", MemberStatus.FULL.value),
        "is_exempt": exempt,
        "exempt_since": None,
        "date_of_birth": fields.get("date_of_birth"),
        "gender": fields.get("gender"),
        "joined_date": fields.get("joined_date"),
        "official_date": fields.get("official_date"),
        "is_locked": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _changes(row: CheckedRow, old: dict[str, Any], today: date) -> dict[str, Any]:
    changes = {
        key: value
        for key, value in row.fields.items()
        if key in FIELDS and _differs(old.get(key), value)
    }
    if "full_name" in changes:
        changes["name_folded"], changes["sort_key"] = row.keys
    if "is_exempt" in changes:
        changes["exempt_since"] = today if changes["is_exempt"] else None
    return changes


async def decide(
    session: AsyncSession, rows: Iterable[CheckedRow], *, lock: bool, now: datetime, today: date
) -> list[Decision]:
    """The outcome of each row against the database as it is now (rows already refused by
    their cells stay refused)."""
    rows = list(rows)
    good = [r for r in rows if r.ok and r.card is not None]
    existing = await _existing(session, sorted({r.card for r in good if r.card}), lock=lock)
    phones = sorted({r.fields["phone"] for r in good if r.fields.get("phone")})
    owners = await _phone_owners(session, phones)
    decisions: list[Decision] = []
    for row in rows:
        if not row.ok or row.card is None or row.branch is None:
            decisions.append(Decision(row, REJECTED))
            continue
        old = existing.get(row.card)
        member_id = old["id"] if old else None
        if old is not None and old["branch_id"] != row.branch.id:
            row.problems.append(
                Problem(
                    "card",
                    "import.card_other_branch",
                    "Số thẻ đã thuộc về đảng viên của chi bộ khác; chuyển sinh hoạt không "
                    "thực hiện qua nhập tệp.",
                    row.card,
                )
            )
            decisions.append(Decision(row, REJECTED))
            continue
        phone = row.fields.get("phone")
        if phone is not None and owners.get(phone, member_id) != member_id:
            row.problems.append(
                Problem(
                    "phone",
                    "import.phone_taken",
                    "Số điện thoại đã thuộc về đảng viên khác.",
                    phone,
                )
            )
            decisions.append(Decision(row, REJECTED))
            continue
        if old is None:
            decisions.append(Decision(row, CREATED, values=_new_member(row, row.branch, now)))
            continue
        changes = _changes(row, old, today)
        decisions.append(
            Decision(row, UPDATED if changes else UNCHANGED, member_id=member_id, values=changes)
        )
    return decisions


async def _write(session: AsyncSession, decisions: list[Decision], now: datetime) -> None:
    creates = [d.values for d in decisions if d.outcome == CREATED and d.values]
    if creates:
        # Core, not the ORM's bulk path: plain rows in multi-row INSERTs.
        await session.execute(insert(_member_table), creates)
    for d in decisions:
        if d.outcome == UPDATED and d.values:
            await session.execute(
                update(Member)
                .where(Member.id == d.member_id)
                .values(**d.values, version=Member.version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )


async def apply_batch(
    session: AsyncSession, rows: list[CheckedRow], *, now: datetime, today: date
) -> list[Decision]:
    """Decide and write the batch; row by row when the batch as a whole is refused."""
    found_in_cells = {row.number: list(row.problems) for row in rows}
    try:
        async with session.begin_nested():
            decisions = await decide(session, rows, lock=True, now=now, today=today)
            await _write(session, decisions, now)
            return decisions
    except IntegrityError:
        pass
    decisions = []
    for row in rows:
        kept = row.problems = list(found_in_cells[row.number])
        try:
            async with session.begin_nested():
                (decision,) = await decide(session, [row], lock=True, now=now, today=today)
                await _write(session, [decision], now)
        except IntegrityError:
            row.problems = [
                *kept,
                Problem(
                    None,
                    "import.conflict",
                    "Số thẻ hoặc số điện thoại vừa được dùng cho đảng viên khác; hãy nhập lại.",
                ),
            ]
            decision = Decision(row, REJECTED)
        decisions.append(decision)
    return decisions
