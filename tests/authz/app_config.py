"""Authorization rows: the apps' configuration."""

from __future__ import annotations

from tests.authz.harness import Call, Row, everyone, table

CONFIG = {
    "deployment_name": "Sổ tay đảng viên",
    "min_versions": {"ios": "1.0.0", "android": "1.0.0"},
    "support": {},
}

ROWS = {
    "get_app_config": Row(lambda c, t: Call("GET", "/api/v1/app-config"), everyone("200 200 200")),
    # Only the deployment admin; the root org is above everyone, so the others get 403.
    "replace_app_config": Row(
        lambda c, t: Call("PUT", "/api/v1/app-config", CONFIG),
        table("403 403 403", admin="200 200 200"),
        "org.not_found",
    ),
}
