"""Small MaxMind-format (`.mmdb`) city databases written for a test, by `mmdb-writer`: the
reader under test (`maxminddb`) reads them exactly as it reads GeoLite2-City."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def city(city: str | None, region: str | None, country: str, *, en: str | None = None) -> Any:
    """A GeoIP2-City record: names in Vietnamese (and the country's English name)."""
    record: dict[str, Any] = {"country": {"iso_code": "VN", "names": {"vi": country}}}
    if en is not None:
        record["country"]["names"]["en"] = en
    if city is not None:
        record["city"] = {"names": {"vi": city}}
    if region is not None:
        record["subdivisions"] = [{"names": {"vi": region}}]
    return record


def write_city_db(path: Path, networks: dict[str, Any]) -> Path:
    """An IPv6 city database (IPv4 mapped in, as MaxMind ships them) holding `networks`."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["vi", "en"],
        description="test city database",
    )
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path
