"""Deciding and writing a batch of checked rows: the upsert keyed by party card number.

For each good row: the member with that card number (read `FOR UPDATE` when applying) and the
owner of its phone decide the outcome: `created`, `updated`, `transferred`, `unchanged`, or
refused (the phone is another member's; the member is archived; the card belongs to a member of
another branch and the import is not made with "transfers allowed", or the officer running it
may not manage members of both branches). Empty cells never erase a stored value, so a re-import
of the same file is unchanged.

A transfer is the administration's own (`membership.transfer`: history from the day it is
applied, roles on the old branch ended, `member.transfer_out`/`member.transfer_in` in the audit
log), made as the officer who asked for the phase; a change of status or exemption follows into
the history too (`history.record_edit`), as an officer's edit does.

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

from app.core.errors import AppError, Forbidden
from app.models import Member, MemberStatus, Org, Role, RoleGrant
from app.services import access, history, membership
from app.services.access import Actor, Permission
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
TRANSFERRED: Final = "transferred"
OUTCOMES: Final = (CREATED, UPDATED, TRANSFERRED, UNCHANGED, REJECTED)
_HISTORY_FIELDS: Final = frozenset({"status", "is_exempt"})

_m = Member.__table__
_g = RoleGrant.__table__
_o = Org.__table__
_member_table = cast(Table, Member.__table__)
_EXISTING = (
    _m.c.id,
    _m.c.party_card_number,
    _m.c.branch_id,
    _m.c.org_path,
    _m.c.archived_on,
    *(_m.c[f] for f in FIELDS),
)
_TRANSFER_FORBIDDEN: Final = (
    "Không chuyển sinh hoạt được: cần quyền quản lý đảng viên ở cả chi bộ hiện tại của đảng viên "
    "và chi bộ ghi trong tệp."
)

_NOT_PERMITTED: Final = frozenset({Forbidden.default_code, "org.not_found", "member.not_found"})


@dataclass(frozen=True, slots=True)
class Transfers:
    """An import made with "transfers allowed": the officer whose rights decide each transfer
    (the one who asked for the phase; None when they may act no more: gone, locked, archived),
    and the note recorded with each transfer."""

    actor: Actor | None
    note: str


@dataclass(slots=True)
class Decision:
    row: CheckedRow
    outcome: str
    member_id: int | None = None
    values: dict[str, Any] | None = None  # the insert's row, or the update's changed columns
    before: dict[str, Any] | None = None  # an update's status and exemption before it


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


async def _roles_held(
    session: AsyncSession, member_ids: list[int]
) -> dict[int, list[tuple[Role, str]]]:
    """The live roles of the members about to be transferred (who may move whom)."""
    held: dict[int, list[tuple[Role, str]]] = {m: [] for m in member_ids}
    if member_ids:
        rows = await session.execute(
            select(_g.c.member_id, _g.c.role, _o.c.path)
            .join(_o, _o.c.id == _g.c.org_id)
            .where(_g.c.member_id.in_(member_ids), _g.c.revoked_at.is_(None))
        )
        for member_id, role, path in rows.all():
            held[member_id].append((Role(role), path))
    return held


def _transfer_refusal(
    transfers: Transfers | None,
    old: dict[str, Any],
    branch: Branch,
    roles: list[tuple[Role, str]],
) -> Problem | None:
    """Why the member of another branch may not be moved to `branch` by this import (None:
    they may). The same rules as the administration's transfer, decided ahead for the report:
    the officer manages the member's account and the destination's members."""
    card = str(old["party_card_number"])
    if transfers is None:
        return Problem(
            "card",
            "import.card_other_branch",
            "Số thẻ đã thuộc về đảng viên của chi bộ khác. Để chuyển đảng viên về chi bộ ghi "
            "trong tệp, hãy nhập với tùy chọn “cho phép chuyển sinh hoạt”.",
            card,
        )
    actor = transfers.actor
    if actor is None or not access.can(actor, Permission.MEMBER_MANAGE, branch.path):
        return Problem("card", "import.transfer_forbidden", _TRANSFER_FORBIDDEN, card)
    try:
        access.require_account_control(actor, old["id"], old["org_path"], roles)
    except Forbidden as exc:
        message = _TRANSFER_FORBIDDEN if exc.code == Forbidden.default_code else exc.detail
        return Problem("card", "import.transfer_forbidden", message, card)
    return None


async def decide(
    session: AsyncSession,
    rows: Iterable[CheckedRow],
    *,
    lock: bool,
    now: datetime,
    today: date,
    transfers: Transfers | None = None,
) -> list[Decision]:
    """The outcome of each row against the database as it is now (rows already refused by
    their cells stay refused). `transfers`: the import is made with "transfers allowed"."""
    rows = list(rows)
    good = [r for r in rows if r.ok and r.card is not None]
    # Phones first, then cards: each statement sees what was committed before it started, so a
    # member another import has just created is, when its phone is seen, also seen by its card
    # (the other order took them for a stranger holding the row's phone).
    phones = sorted({r.fields["phone"] for r in good if r.fields.get("phone")})
    owners = await _phone_owners(session, phones)
    existing = await _existing(session, sorted({r.card for r in good if r.card}), lock=lock)
    moving = sorted(
        old["id"]
        for r in good
        if r.branch is not None
        and (old := existing.get(r.card or "")) is not None
        and old["branch_id"] != r.branch.id
    )
    roles = await _roles_held(session, moving) if transfers is not None else {}
    decisions: list[Decision] = []
    for row in rows:
        if not row.ok or row.card is None or row.branch is None:
            decisions.append(Decision(row, REJECTED))
            continue
        old = existing.get(row.card)
        member_id = old["id"] if old else None
        if old is not None and old["archived_on"] is not None:
            row.problems.append(
                Problem(
                    "card",
                    "import.member_archived",
                    "Đảng viên có số thẻ này đã được lưu trữ (không còn sinh hoạt): nhập tệp "
                    "không thay đổi đảng viên đã lưu trữ.",
                    row.card,
                )
            )
            decisions.append(Decision(row, REJECTED))
            continue
        moves = old is not None and old["branch_id"] != row.branch.id
        if old is not None and moves:
            refusal = _transfer_refusal(transfers, old, row.branch, roles.get(old["id"], []))
            if refusal is not None:
                row.problems.append(refusal)
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
        outcome = TRANSFERRED if moves else UPDATED if changes else UNCHANGED
        before = {"status": old["status"], "is_exempt": old["is_exempt"]}
        decisions.append(Decision(row, outcome, member_id=member_id, values=changes, before=before))
    return decisions


async def _update(session: AsyncSession, d: Decision, now: datetime, today: date) -> None:
    """An update's changed columns; a change of status or exemption goes into the history."""
    if not d.values:
        return
    await session.execute(
        update(Member)
        .where(Member.id == d.member_id)
        .values(**d.values, version=Member.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if d.before is not None and _HISTORY_FIELDS & d.values.keys():
        member = await session.get(Member, d.member_id, populate_existing=True)
        if member is not None:
            await history.record_edit(session, member, d.before, today=today)


async def _transfer(
    session: AsyncSession, d: Decision, transfers: Transfers, now: datetime, today: date
) -> None:
    """The row's changes and the move, together or not at all: a refusal decided under the
    locks (the officer's rights, the member's roles as they are now) refuses the row."""
    member_id, branch = d.member_id, d.row.branch
    if member_id is None or branch is None:  # a transfer has both
        return
    try:
        if transfers.actor is None:
            raise Forbidden(_TRANSFER_FORBIDDEN, code="import.transfer_forbidden")
        async with session.begin_nested():
            await _update(session, d, now, today)
            await membership.transfer(
                session,
                transfers.actor,
                member_id,
                branch.id,
                on=None,
                note=transfers.note,
                today=today,
            )
    except AppError as exc:
        # Out of the officer's scope reads as not found to a request; here it is the right.
        message = _TRANSFER_FORBIDDEN if exc.code in _NOT_PERMITTED else exc.detail
        d.row.problems.append(
            Problem("card", "import.transfer_forbidden", message, d.row.card or "")
        )
        d.outcome = REJECTED


async def _write(
    session: AsyncSession,
    decisions: list[Decision],
    now: datetime,
    today: date,
    transfers: Transfers | None,
) -> None:
    creates = [d.values for d in decisions if d.outcome == CREATED and d.values]
    if creates:
        # Core, not the ORM's bulk path: plain rows in multi-row INSERTs.
        await session.execute(insert(_member_table), creates)
    for d in decisions:
        if d.outcome == UPDATED:
            await _update(session, d, now, today)
    for d in decisions:
        if d.outcome == TRANSFERRED and transfers is not None:
            await _transfer(session, d, transfers, now, today)


async def apply_batch(
    session: AsyncSession,
    rows: list[CheckedRow],
    *,
    now: datetime,
    today: date,
    transfers: Transfers | None = None,
) -> list[Decision]:
    """Decide and write the batch; row by row when the batch as a whole is refused."""
    found_in_cells = {row.number: list(row.problems) for row in rows}
    try:
        async with session.begin_nested():
            decisions = await decide(
                session, rows, lock=True, now=now, today=today, transfers=transfers
            )
            await _write(session, decisions, now, today, transfers)
            return decisions
    except IntegrityError:
        pass
    decisions = []
    for row in rows:
        decisions.append(
            await _apply_row(session, row, found_in_cells[row.number], now, today, transfers)
        )
    return decisions


async def _apply_row(
    session: AsyncSession,
    row: CheckedRow,
    kept: list[Problem],
    now: datetime,
    today: date,
    transfers: Transfers | None,
) -> Decision:
    """One row on its own. A unique conflict means another transaction (a second import of the
    same file, an officer's edit) just wrote that card or phone: it has committed by the time
    the conflict is raised, so the row is decided once more against what it wrote (usually
    unchanged), and refused only if it conflicts again."""
    for attempt in range(2):
        row.problems = list(kept)
        try:
            async with session.begin_nested():
                (decision,) = await decide(
                    session, [row], lock=True, now=now, today=today, transfers=transfers
                )
                await _write(session, [decision], now, today, transfers)
            return decision
        except IntegrityError:
            if attempt == 0:
                continue
    row.problems = [
        *kept,
        Problem(
            None,
            "import.conflict",
            "Số thẻ hoặc số điện thoại vừa được dùng cho đảng viên khác; hãy nhập lại.",
        ),
    ]
    return Decision(row, REJECTED)
