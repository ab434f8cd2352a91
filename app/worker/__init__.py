"""The background worker: one process kind for every job (`handbook worker`).

- `queue`: claiming, finishing, retrying and releasing job rows.
- `registry`: handlers by job kind, and what a handler may return.
- `runner`: the loop: heartbeat, leases, concurrency, SIGTERM.
- `handlers/`: the jobs themselves (notices, housekeeping).
"""
