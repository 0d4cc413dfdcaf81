"""Identifier normalisation + SHA-256 against the examples Meta and Google publish.

Each case is (raw input as the platform's doc shows it, the normalised string
the doc shows). The expected hash is computed here with hashlib from the
documented normalised string, independently of the code under test. Where the
doc also prints the digest, the test pins that too.

Sources (read 2026-11):
* META_CAPI: developers.facebook.com/docs/marketing-api/conversions-api/parameters/
  customer-information-parameters ("Formatting the user_data parameters")
* META_HELP: facebook.com/business/help/2082575038703844 ("How to format a customer list")
* GOOGLE_DM: developers.google.com/data-manager/api/devguides/concepts/formatting ("Format user data")
* GOOGLE_ADS: Google Ads API OfflineUserAddressInfo reference and the help article
  "Format your customer data file" (support.google.com/google-ads/answer/7659867)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from syncs import hashing
from syncs.hashing import UnsupportedField, hash_value, normalise


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# (field, raw input, default_country, documented normalised value, source)
META_CASES = [
    ("email", "John_Smith@gmail.com", None, "john_smith@gmail.com", "META_CAPI em"),
    ("phone", "(650)555-1212", "US", "16505551212", "META_CAPI ph (US number)"),
    ("phone", "1-234-567-8910", None, "12345678910", "META_HELP phone example"),
    ("phone", "+44 844 412 4653", None, "448444124653", "META_HELP phone example"),
    ("first_name", "Mary", None, "mary", "META_CAPI fn"),
    ("first_name", "Valéry", None, "valéry", "META_CAPI fn (UTF-8 kept)"),
    ("first_name", "정", None, "정", "META_CAPI fn (UTF-8 kept)"),
    ("date_of_birth", "2/16/1997", None, "19970216", "META_CAPI db"),
    ("country", "United States", None, "us", "META_CAPI country"),
    ("city", "New York", None, "newyork", "META_CAPI ct (no spaces)"),
    ("city", "Paris", None, "paris", "META_CAPI ct"),
    ("state", "Arizona", None, "az", "META_CAPI st (ANSI code)"),
    ("state", "CA", None, "ca", "META_CAPI st"),
    ("zip", "94035", None, "94035", "META_CAPI zp (US)"),
    ("zip", "94035-1234", None, "94035", "META_CAPI zp (first 5 digits)"),
    ("zip", "M1 1AE", "GB", "m11ae", "META_CAPI zp (UK, no spaces)"),
    ("gender", "Female", None, "f", "META_CAPI ge"),
    ("gender", "m", None, "m", "META_CAPI ge"),
]

GOOGLE_CASES = [
    ("email", "cloudy.sanfrancisco+shopping@gmail.com", None, "cloudysanfrancisco@gmail.com",
     "GOOGLE_DM email (gmail: no dots, no +tag)"),
    ("email", "user.name+NYC@Example.com", None, "user.name+nyc@example.com",
     "GOOGLE_DM email (other domains keep dots and +)"),
    ("phone", "(800)555-0100", "US", "+18005550100", "GOOGLE_DM phone_number"),
    ("first_name", "Mrs. Jane", None, "jane", "GOOGLE_DM given_name (no prefixes such as Mrs.)"),
    ("last_name", "Smith Jr.", None, "smith", "GOOGLE_DM family_name (no suffixes such as Jr.)"),
    ("first_name", "zoë", None, "zoë", "GOOGLE_ADS customer data template (zoë,pérez,...)"),
    ("last_name", "Pérez", None, "pérez", "GOOGLE_ADS customer data template"),
    ("country", "us", None, "US", "GOOGLE_DM region_code (ISO-3166-1 alpha-2)"),
    ("zip", "94016", None, "94016", "GOOGLE_ADS template zip"),
    ("zip", "WC2H 8LG", None, "WC2H 8LG", "GOOGLE_ADS template zip (non-US as written)"),
]


@pytest.mark.parametrize(("field", "raw", "country", "documented", "source"), META_CASES,
                         ids=[f"meta-{c[0]}-{c[1]}" for c in META_CASES])
def test_meta_documented_examples(field: str, raw: str, country: str | None, documented: str, source: str) -> None:
    normalised, digest = hash_value("meta", field, raw, country)
    assert normalised == documented, source
    assert digest == sha(documented), source


@pytest.mark.parametrize(("field", "raw", "country", "documented", "source"), GOOGLE_CASES,
                         ids=[f"google-{c[0]}-{c[1]}" for c in GOOGLE_CASES])
def test_google_documented_examples(field: str, raw: str, country: str | None, documented: str,
                                    source: str) -> None:
    normalised, digest = hash_value("google", field, raw, country)
    assert normalised == documented, source
    assert digest == sha(documented), source


def test_meta_published_digests() -> None:
    """The digests Meta prints next to its examples (META_CAPI)."""
    assert hash_value("meta", "email", "John_Smith@gmail.com")[1] == \
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert hash_value("meta", "phone", "+1 (650) 555-1212")[1] == \
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    assert hash_value("meta", "first_name", "Mary")[1] == \
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
    assert hash_value("meta", "date_of_birth", "2/16/1997")[1] == \
        "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"
    assert hash_value("meta", "country", "United States")[1] == \
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"


def test_where_the_platforms_differ() -> None:
    # gmail dots and +tags: Google removes them, Meta keeps the address as typed (lower-cased)
    assert normalise("google", "email", "Jane.Doe+promo@GoogleMail.com") == "janedoe@googlemail.com"
    assert normalise("meta", "email", "Jane.Doe+promo@GoogleMail.com") == "jane.doe+promo@googlemail.com"
    # phone: Google E.164 with '+', Meta digits only
    assert normalise("google", "phone", "+44 (0)20 7946 0958") == "+442079460958"
    assert normalise("meta", "phone", "+44 (0)20 7946 0958") == "442079460958"
    # country: Meta hashes lower-case, Google sends upper-case in clear
    assert hashing.upload_value("meta", "country", "GB") == sha("gb")
    assert hashing.upload_value("google", "country", "GB") == "GB"
    # Google strips all whitespace from emails; Meta only trims
    assert normalise("google", "email", " jane @example.com ") == "jane@example.com"
    assert normalise("meta", "email", " jane @example.com ") is None


def test_phone_with_default_country() -> None:
    assert normalise("google", "phone", "020 7946 0958", "GB") == "+442079460958"  # trunk 0 dropped
    assert normalise("google", "phone", "030 1234567", "DE") == "+49301234567"
    assert normalise("google", "phone", "06 1234 5678", "IT") == "+390612345678"  # Italy keeps the 0
    assert normalise("google", "phone", "8 (916) 123-45-67", "RU") == "+79161234567"  # trunk 8
    assert normalise("google", "phone", "0044 20 7946 0958", "DE") == "+442079460958"  # 00 = international
    assert normalise("meta", "phone", "650-555-1212 ext. 42", "US") == "16505551212"
    assert hashing.e164("07700 900123", "GB") == "+447700900123"


@pytest.mark.parametrize(("field", "value"), [
    ("email", "not-an-email"), ("email", "   "), ("phone", "12345"), ("phone", "1-800-FLOWERS"),
    ("date_of_birth", "31/02/1990"), ("date_of_birth", "1850-01-01"), ("gender", "unknown"),
    ("country", "Atlantis"), ("first_name", "..."),
])
def test_unusable_values_become_none(field: str, value: str) -> None:
    assert normalise("meta", field, value) is None
    assert hash_value("meta", field, value) == (None, None)


def test_none_and_prehashed_values() -> None:
    assert hash_value("google", "email", None) == (None, None)
    digest = sha("someone@example.com")
    assert hash_value("meta", "email", digest.upper()) == (digest, digest)  # passed through, not re-hashed


def test_dates_and_date_objects() -> None:
    import datetime as dt

    assert normalise("meta", "date_of_birth", dt.date(1997, 2, 16)) == "19970216"
    assert normalise("meta", "date_of_birth", "1997-02-16") == "19970216"
    assert normalise("meta", "date_of_birth", "16.02.1997") == "19970216"


def test_unsupported_fields_and_platforms() -> None:
    with pytest.raises(UnsupportedField, match="google does not match on 'date_of_birth'"):
        normalise("google", "date_of_birth", "1997-02-16")
    with pytest.raises(UnsupportedField, match="unknown platform"):
        normalise("tiktok", "email", "a@b.co")
    with pytest.raises(UnsupportedField, match="unknown field"):
        hash_value("meta", "shoe_size", "42")
    assert hashing.is_hashed("meta", "zip") and not hashing.is_hashed("google", "zip")
    assert not hashing.is_hashed("meta", "external_id")


def test_hash_column_matches_scalar_and_keeps_nulls() -> None:
    values = ["John_Smith@gmail.com", None, "bad", "john_smith@gmail.com", "x.y@gmail.com"]
    column = hashing.hash_column("google", "email", pa.chunked_array([values[:2], values[2:]]))
    assert column.to_pylist() == [hashing.upload_value("google", "email", v) for v in values]
    assert column.null_count == 2
    countries = hashing.hash_column("google", "country", pa.array(["gb", "United Kingdom", None]))
    assert countries.to_pylist() == ["GB", "GB", None]


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    hashing.add_hash_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["hash", "--platform", "meta", "--field", "email", " John_Smith@gmail.com "])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["normalised"] == "john_smith@gmail.com"
    assert out["sha256"] == sha("john_smith@gmail.com") and out["sent_hashed"] is True


def test_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert hashing.main(["--platform", "google", "--field", "gender", "f"]) == 2
    assert "google does not match on 'gender'" in capsys.readouterr().err
    assert hashing.main(["--platform", "meta", "--field", "email", "nope"]) == 1
    assert "not a usable email" in capsys.readouterr().err
    assert hashing.main(["--platform", "google", "--field", "phone", "--country", "US", "(800)555-0100"]) == 0
    assert json.loads(capsys.readouterr().out)["normalised"] == "+18005550100"


def test_module_imports_without_pyarrow() -> None:
    """`kairos hash` stays light: the module itself never imports pyarrow at import time."""
    path = Path(hashing.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print('pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert importlib.util.find_spec("syncs.hashing") is not None
