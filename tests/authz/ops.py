"""Authorization rows: health, readiness, metrics (served at the root)."""

from __future__ import annotations

from tests.authz.harness import Call, Row, everyone

ROWS = {
    "get_health": Row(lambda c, t: Call("GET", "/healthz"), everyone("200 200 200")),
    "get_readiness": Row(lambda c, t: Call("GET", "/readyz"), everyone("200 200 200")),
    # Operators only (OPS__METRICS_TOKEN): no role's access token reads them.
    "get_metrics": Row(
        lambda c, t: Call("GET", "/metrics"), everyone("401:ops.metrics_token_invalid " * 3)
    ),
}
