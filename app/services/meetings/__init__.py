"""Branch meetings (sinh hoạt chi bộ), from agenda to resolution.

- `lifecycle`: plan, edit, announce, start, close, cancel, reschedule; the summoned members'
  snapshot; reminders through the worker's notices; lists; minutes and ratings; comments.
- `attendance`: check-in (app, rotating QR, the secretary's proxy), excuses, quorum.
- `motions`: motions, open and secret ballots, show of hands, results.
- `tasks`: tasks of a branch, from a meeting or not.

The rules (quorum, pass threshold, check-in window, reminder times) come from `settings.rules`.
"""
