"""docs/configuration.md is generated from the Settings classes and kept up to date."""

from __future__ import annotations

from pydantic import BaseModel

from app.core.config import Settings
from app.core.config_doc import REFERENCE_PATH, missing_meanings, reference_rows, render_reference


def test_every_setting_has_a_meaning() -> None:
    assert missing_meanings() == [], "comment these settings in app/core/config.py"


def test_reference_is_up_to_date() -> None:
    committed = REFERENCE_PATH.read_text(encoding="utf-8")
    assert committed == render_reference(), "run `python3 dev.py run handbook config reference`"


def test_reference_lists_every_variable_once() -> None:
    variables = [variable for _, variable, _, _, _ in reference_rows()]
    assert len(variables) == len(set(variables))
    fields = 0
    for info in Settings.model_fields.values():
        group = info.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            fields += len(group.model_fields)
        else:
            fields += 1
    assert len(variables) == fields
    assert "DATABASE_URL" in variables


def test_secrets_are_marked_and_their_defaults_never_shown() -> None:
    rows = {variable: (default, meaning) for _, variable, _, default, meaning in reference_rows()}
    default, meaning = rows["AUTH__SECRET_KEY"]
    assert meaning.startswith("🔒")
    assert default == "(unset)"
