"""The product's jobs; importing this package registers them in `app.worker.registry`."""

from app.worker.handlers import housekeeping, notices, study

__all__ = ["housekeeping", "notices", "study"]
