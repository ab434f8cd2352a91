"""Authorization rows: the deployment's rules."""

from __future__ import annotations

from tests.authz.harness import SELF, Call, Row, table

RULES = {
    "quorum_ratio": 0.5,
    "pass_ratio": 0.5,
    "reminder_day_before_at": "07:30",
    "reminder_hours_before": 2,
    "absence_flag_after": 3,
    "study_points_target": 200,
    "study_points_document": 3,
    "study_points_meeting": 12,
    "study_points_quiz": 15,
    "study_points_document_daily_cap": 30,
    "study_points_manual_max": 50,
}

ROWS = {
    # Every member reads the rules their meetings follow.
    "get_rules": Row(lambda c, t: Call("GET", "/api/v1/rules"), SELF),
    # Only the deployment admin sets them; the root org is above everyone, so the others get 403.
    "replace_rules": Row(
        lambda c, t: Call("PUT", "/api/v1/rules", RULES),
        table("403 403 403", admin="200 200 200"),
        "org.not_found",
    ),
}
