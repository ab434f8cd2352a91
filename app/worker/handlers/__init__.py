"""The product's jobs; importing this package registers them in `app.worker.registry`."""

from app.worker.handlers import content, housekeeping, imports, notices, stats, study

__all__ = ["content", "housekeeping", "imports", "notices", "stats", "study"]
