"""The GeoIP seam: the default knows nothing; the MaxMind reader finds city, region and country
in a real `.mmdb` file (generated here, read by `maxminddb`)."""

from __future__ import annotations

from pathlib import Path

from app.core.config import GeoIPSettings, Settings
from app.integrations.geoip import MaxMindGeoIP, NoGeoIP, Place, build_geoip
from tests.geoip_files import city, write_city_db


def _db(tmp_path: Path) -> Path:
    return write_city_db(
        tmp_path / "city.mmdb",
        {
            "14.160.0.0/16": city("Ba Đình", "Hà Nội", "Việt Nam", en="Vietnam"),
            "113.160.0.0/16": city(None, "Đà Nẵng", "Việt Nam"),
            "2405:4800::/32": city("Quận 1", "Hồ Chí Minh", "Việt Nam"),
        },
    )


def test_the_default_knows_no_place() -> None:
    geoip = build_geoip(GeoIPSettings())
    assert isinstance(geoip, NoGeoIP)
    assert geoip.lookup("14.160.1.2") is None


def test_a_city_database_gives_city_region_and_country(tmp_path: Path) -> None:
    geoip = build_geoip(GeoIPSettings(database=_db(tmp_path)))
    assert isinstance(geoip, MaxMindGeoIP)
    try:
        place = geoip.lookup("14.160.1.2")
        assert place == Place(city="Ba Đình", region="Hà Nội", country="Việt Nam")
        assert place is not None
        assert place.describe() == "Ba Đình, Hà Nội, Việt Nam"
        region_only = geoip.lookup("113.160.9.9")
        assert region_only == Place(city=None, region="Đà Nẵng", country="Việt Nam")
        assert region_only is not None
        assert region_only.describe() == "Đà Nẵng, Việt Nam"
        assert geoip.lookup("2405:4800:1::5") == Place("Quận 1", "Hồ Chí Minh", "Việt Nam")
        # Not in the file, not an address at all.
        assert geoip.lookup("8.8.8.8") is None
        assert geoip.lookup("10.0.0.1") is None
        assert geoip.lookup("unknown") is None
    finally:
        geoip.close()


def test_names_follow_the_configured_languages(tmp_path: Path) -> None:
    geoip = MaxMindGeoIP(_db(tmp_path), ["en", "vi"])
    try:
        place = geoip.lookup("14.160.1.2")
        # English where the file has it (the country), Vietnamese otherwise.
        assert place == Place(city="Ba Đình", region="Hà Nội", country="Vietnam")
    finally:
        geoip.close()


def test_a_database_path_that_names_no_file_is_refused(settings: Settings, tmp_path: Path) -> None:
    assert not [p for p in settings.problems() if "GEOIP__DATABASE" in p]
    missing = settings.model_copy(
        update={"geoip": GeoIPSettings(database=tmp_path / "missing.mmdb")}
    )
    assert any("GEOIP__DATABASE" in problem for problem in missing.problems())
