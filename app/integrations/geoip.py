"""A coarse place (city, region, country) for an IP address, for a member's list of logins.

`GeoIP` is the seam: `NoGeoIP` (the default: the deployment ships no database, every address is
unknown) and `MaxMindGeoIP`, which reads a MaxMind-format `.mmdb` file (GeoLite2-City,
GeoIP2-City, DB-IP's free "lite" city file …) named by `GEOIP__DATABASE`, through the
`maxminddb` reader (memory-mapped, its C extension when built; a lookup costs microseconds, so
it runs on the event loop). Names are taken in the first of `GEOIP__LANGUAGES` the file has.

The place is looked up when a login starts or refreshes from a new address and stored on the
session row (`services/auth/sessions.py`), never per list request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import maxminddb

from app.core.config import GeoIPSettings

_MAX_NAME = 100  # the session row's columns


@dataclass(frozen=True, slots=True)
class Place:
    city: str | None
    region: str | None
    country: str | None

    def describe(self) -> str | None:
        """ "Ba Đình, Hà Nội, Việt Nam": the known parts, smallest first, without repeats."""
        parts: list[str] = []
        for part in (self.city, self.region, self.country):
            if part and part not in parts:
                parts.append(part)
        return ", ".join(parts) or None


class GeoIP(Protocol):
    def lookup(self, ip: str) -> Place | None: ...

    def close(self) -> None: ...


class NoGeoIP:
    """No database: nothing is known about any address."""

    def lookup(self, ip: str) -> Place | None:  # noqa: ARG002
        return None

    def close(self) -> None:
        return None


class MaxMindGeoIP:
    """Reads a MaxMind DB (`.mmdb`) city or country database."""

    def __init__(self, path: Path, languages: list[str]) -> None:
        self._reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
        self._languages = languages

    def lookup(self, ip: str) -> Place | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        try:
            record = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        if not isinstance(record, dict):
            return None
        subdivisions = record.get("subdivisions")
        region = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
        place = Place(
            city=self._name(record.get("city")),
            region=self._name(region),
            country=self._name(record.get("country")),
        )
        return place if place.describe() else None

    def _name(self, entry: Any) -> str | None:
        if not isinstance(entry, dict):
            return None
        names = entry.get("names")
        if not isinstance(names, dict):
            return None
        for language in self._languages:
            name = names.get(language)
            if isinstance(name, str) and name.strip():
                return name.strip()[:_MAX_NAME]
        return None

    def close(self) -> None:
        self._reader.close()


def build_geoip(settings: GeoIPSettings) -> GeoIP:
    if settings.database is None:
        return NoGeoIP()
    return MaxMindGeoIP(settings.database, settings.languages)
