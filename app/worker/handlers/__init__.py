"""The product's jobs; importing this package registers them in `app.worker.registry`."""

from app.worker.handlers import housekeeping, imports, notices

__all__ = ["housekeeping", "imports", "notices"]
