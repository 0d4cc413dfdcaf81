"""Normalise and SHA-256 customer identifiers the way each ad platform documents it.

Meta (custom audiences, Conversions API) and Google (Customer Match, Data
Manager) both match on SHA-256 hashes of *normalised* values, and a value
normalised differently from the platform's own rule never matches: the upload
"succeeds" and the audience is silently smaller. The two rule sets differ:

=============  ==========================================  ==========================================
field          Meta                                        Google
=============  ==========================================  ==========================================
email          trim, lower-case                            lower-case, no whitespace at all;
                                                           gmail.com / googlemail.com: no dots and
                                                           no ``+tag`` in the local part
phone          digits only with the country code,          E.164: ``+`` country code, digits
               no ``+``, no leading zeros
first/last     lower-case, no punctuation (UTF-8 letters   lower-case, no punctuation, no prefixes
name           such as ``é`` or ``정`` kept)                 (Mrs.) or suffixes (Jr.), trimmed
city, state    lower-case letters only (no spaces,         not used by Customer Match
               digits, punctuation); US states as their
               2-letter code
zip            lower-case, no spaces or dashes;            sent in clear, trimmed (US: 5 digits or
               US: first 5 digits                          ZIP+4)
country        lower-case ISO 3166-1 alpha-2, hashed       ISO 3166-1 alpha-2, sent in clear
date_of_birth  ``YYYYMMDD`` (custom audiences split it     not used by Customer Match
               into DOBY / DOBM / DOBD)
gender         ``m`` or ``f``                              not used by Customer Match
external_id    trimmed; sent in clear to custom            trimmed, sent in clear
               audiences (hashing optional)                (``thirdPartyUserId``)
=============  ==========================================  ==========================================

Sources (read 2026-11): Meta, "Customer Information Parameters" (Conversions
API) and "Customer File Custom Audiences: hashing and normalizing data";
Google, "Format user data" (Data Manager API), Google Ads API
``OfflineUserAddressInfo`` / Customer Match "normalize and hash" and the Google
Ads help article "Format your customer data file". Concrete examples from
those pages are the fixtures of ``tests/test_hashing.py``.

Public API::

    normalise(platform, field, value, default_country=None) -> str | None
    hash_value(platform, field, value, default_country=None) -> (normalised, sha256hex)
    upload_value(platform, field, value, default_country=None) -> what the platform expects
    is_hashed(platform, field) -> bool      # hashed on upload, or sent in clear
    hash_column(platform, field, array, default_country=None) -> pyarrow array

``None`` means "no usable value" (empty, or not a valid email / phone / date):
callers drop the identifier rather than upload the hash of garbage. A value
that already is a SHA-256 hex digest passes through unchanged for hashed
fields, so a model may hand over pre-hashed identifiers.

Phone numbers without a country code need ``default_country`` (ISO alpha-2).
The rules here are a deliberately small subset of libphonenumber (not a
dependency of this project): trunk prefixes are removed per country, lengths
are checked against E.164's 8 to 15 digits, nothing more.

``kairos hash --platform meta|google --field email VALUE`` prints the
normalised value and its hash (see :func:`add_hash_parser`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow is only needed by hash_column; keep the CLI import light
    import pyarrow as pa

PLATFORMS = ("meta", "google")
FIELDS = (
    "email", "phone", "first_name", "last_name", "city", "state", "zip", "country",
    "date_of_birth", "gender", "external_id",
)

# fields each platform documents for matching, and which of them it wants hashed
_SUPPORTED: dict[str, frozenset[str]] = {
    "meta": frozenset(FIELDS),
    # Customer Match matches on email, phone, and name + country + zip; city and
    # state are only accepted for store sales / conversion adjustments.
    "google": frozenset({"email", "phone", "first_name", "last_name", "country", "zip", "external_id"}),
}
_CLEAR: dict[str, frozenset[str]] = {
    "meta": frozenset({"external_id"}),  # custom audiences take EXTERN_ID as is
    "google": frozenset({"country", "zip", "external_id"}),  # "Don't hash region_code / postal_code"
}

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class UnsupportedField(ValueError):
    """The platform does not document this field for matching (or the platform is unknown)."""


# -- public API -----------------------------------------------------------------------

def check_field(platform: str, field: str) -> None:
    """Raise :class:`UnsupportedField` unless ``platform`` matches on ``field``."""
    if platform not in _SUPPORTED:
        raise UnsupportedField(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    if field not in FIELDS:
        raise UnsupportedField(f"unknown field {field!r} (known: {', '.join(FIELDS)})")
    if field not in _SUPPORTED[platform]:
        raise UnsupportedField(
            f"{platform} does not match on {field!r} "
            f"(supported: {', '.join(f for f in FIELDS if f in _SUPPORTED[platform])})"
        )


def supported_fields(platform: str) -> tuple[str, ...]:
    """The fields ``platform`` matches on, in :data:`FIELDS` order."""
    check_field(platform, "email")
    return tuple(f for f in FIELDS if f in _SUPPORTED[platform])


def is_hashed(platform: str, field: str) -> bool:
    """Whether the platform wants this field SHA-256 hashed (else sent normalised, in clear)."""
    check_field(platform, field)
    return field not in _CLEAR[platform]


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise(platform: str, field: str, value: Any, default_country: str | None = None) -> str | None:
    """The value as ``platform`` documents it must look before hashing, or None if unusable.

    ``default_country`` (ISO alpha-2) completes phone numbers written without
    a country code and tells which postal-code rules apply.
    """
    check_field(platform, field)
    if value is None:
        return None
    if field == "date_of_birth" and isinstance(value, (dt.date, dt.datetime)):
        return _dob(value)
    text = str(value)
    if not text.strip():
        return None
    stripped = text.strip().lower()
    if field not in _CLEAR[platform] and _SHA256_HEX.match(stripped):
        return stripped  # already hashed upstream
    return _NORMALISERS[field](platform, text, _country_or_none(default_country))


def hash_value(platform: str, field: str, value: Any,
               default_country: str | None = None) -> tuple[str | None, str | None]:
    """``(normalised, sha256 hex of it)``; ``(None, None)`` when the value is unusable.

    A pre-hashed input comes back as ``(hash, hash)``.
    """
    norm = normalise(platform, field, value, default_country)
    if norm is None:
        return None, None
    if _SHA256_HEX.match(norm) and field not in _CLEAR[platform]:
        return norm, norm
    return norm, sha256_hex(norm)


def upload_value(platform: str, field: str, value: Any, default_country: str | None = None) -> str | None:
    """What goes on the wire: the hash for hashed fields, the normalised value otherwise."""
    norm, digest = hash_value(platform, field, value, default_country)
    return digest if is_hashed(platform, field) else norm


def hash_column(platform: str, field: str, array: "pa.Array | pa.ChunkedArray",
                default_country: str | None = None, *, upload: bool = True) -> "pa.Array":
    """Vectorised helper: a string array of upload values (``upload``) or hashes.

    Nulls and unusable values come back as nulls. hashlib runs once per
    distinct value, so repeated values (countries, genders) cost one hash.
    """
    import pyarrow as pa  # local: keep `kairos hash` free of pyarrow at import time

    check_field(platform, field)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = array.dictionary_encode() if not pa.types.is_dictionary(array.type) else array
    fn: Callable[..., str | None] = upload_value if upload else (
        lambda p, f, v, c: hash_value(p, f, v, c)[1])
    mapped = [fn(platform, field, v, default_country) for v in encoded.dictionary.to_pylist()]
    return pa.array(mapped, type=pa.string()).take(encoded.indices)


# -- email ------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def _email(platform: str, text: str, _country: str | None) -> str | None:
    if platform == "google":
        # "Trim leading, trailing and intermediate whitespace"
        value = re.sub(r"\s+", "", text).lower()
    else:
        value = text.strip().lower()  # Meta: trim, lower-case; nothing else
    if not _EMAIL.match(value):
        return None
    if platform == "google":
        local, _, domain = value.rpartition("@")
        if domain in _GMAIL_DOMAINS:
            # Google: no dots before the @, and no +tag, for gmail.com / googlemail.com only
            local = local.split("+", 1)[0].replace(".", "")
            if not local:
                return None
            value = f"{local}@{domain}"
    return value


# -- phone --------------------------------------------------------------------------------

# ISO alpha-2 -> country calling code (E.164). NANP members share "1".
_CALLING_CODES: dict[str, str] = {
    **dict.fromkeys(["US", "CA", "PR", "GU", "VI", "AS", "MP", "AG", "AI", "BB", "BM", "BS", "DM",
                     "DO", "GD", "JM", "KN", "KY", "LC", "MS", "SX", "TC", "TT", "VC", "VG"], "1"),
    "RU": "7", "KZ": "7", "EG": "20", "ZA": "27", "GR": "30", "NL": "31", "BE": "32", "FR": "33",
    "ES": "34", "HU": "36", "IT": "39", "VA": "39", "RO": "40", "CH": "41", "AT": "43", "GB": "44",
    "GG": "44", "JE": "44", "IM": "44", "DK": "45", "SE": "46", "NO": "47", "PL": "48", "DE": "49",
    "PE": "51", "MX": "52", "CU": "53", "AR": "54", "BR": "55", "CL": "56", "CO": "57", "VE": "58",
    "MY": "60", "AU": "61", "ID": "62", "PH": "63", "NZ": "64", "SG": "65", "TH": "66", "JP": "81",
    "KR": "82", "VN": "84", "CN": "86", "TR": "90", "IN": "91", "PK": "92", "AF": "93", "LK": "94",
    "MM": "95", "IR": "98", "MA": "212", "DZ": "213", "TN": "216", "LY": "218", "NG": "234",
    "GH": "233", "KE": "254", "TZ": "255", "UG": "256", "ET": "251", "SN": "221", "CI": "225",
    "CM": "237", "PT": "351", "LU": "352", "IE": "353", "IS": "354", "AL": "355", "MT": "356",
    "CY": "357", "FI": "358", "AX": "358", "BG": "359", "LT": "370", "LV": "371", "EE": "372",
    "MD": "373", "AM": "374", "BY": "375", "AD": "376", "MC": "377", "SM": "378", "UA": "380",
    "RS": "381", "ME": "382", "XK": "383", "HR": "385", "SI": "386", "BA": "387", "MK": "389",
    "CZ": "420", "SK": "421", "LI": "423", "CR": "506", "PA": "507", "GT": "502", "SV": "503",
    "HN": "504", "NI": "505", "BO": "591", "EC": "593", "PY": "595", "UY": "598", "HK": "852",
    "MO": "853", "KH": "855", "LA": "856", "BD": "880", "TW": "886", "MV": "960", "LB": "961",
    "JO": "962", "SY": "963", "IQ": "964", "KW": "965", "SA": "966", "YE": "967", "OM": "968",
    "PS": "970", "AE": "971", "IL": "972", "BH": "973", "QA": "974", "BT": "975", "MN": "976",
    "NP": "977", "GE": "995", "KG": "996", "UZ": "998", "AZ": "994", "TJ": "992", "TM": "993",
}
# national trunk prefixes other than the usual "0"; "" = the leading 0 belongs to the number
_TRUNK: dict[str, str] = {
    **dict.fromkeys([c for c, code in _CALLING_CODES.items() if code == "1"], "1"),
    "RU": "8", "KZ": "8", "BY": "8", "HU": "06", "IT": "", "VA": "", "SM": "",
}
_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", re.IGNORECASE)


def _phone_digits(text: str, country: str | None) -> str | None:
    """The full international number as digits (country code first), or None."""
    value = _EXTENSION.sub("", text.strip())
    value = value.replace("(0)", "")  # "+44 (0)20 ...": the trunk 0 is dropped in international form
    if re.search(r"[A-Za-z]", value):  # vanity letters or junk: refuse rather than guess
        return None
    digits = re.sub(r"\D", "", value)
    if not digits:
        return None
    if value.startswith("+"):
        international = digits
    elif digits.startswith("00"):  # international dialling prefix used in most of the world
        international = digits[2:]
    elif country in _CALLING_CODES and _CALLING_CODES[country] == "1" and digits.startswith("011"):
        international = digits[3:]  # NANP international dialling prefix
    elif country in _CALLING_CODES:
        code, trunk = _CALLING_CODES[country], _TRUNK.get(country, "0")
        if code == "1":
            if len(digits) == 10:
                international = "1" + digits
            elif len(digits) == 11 and digits.startswith("1"):
                international = digits
            else:
                return None
        elif trunk and digits.startswith(trunk):
            international = code + digits[len(trunk):]
        elif trunk and digits.startswith(code):
            international = digits  # written with the country code but without "+"
        else:
            international = code + digits
    else:
        # no country known: assume the country code is there (Meta's rule:
        # "remove symbols, letters and any leading zeros")
        international = digits.lstrip("0")
    international = international.lstrip("0")
    if not 8 <= len(international) <= 15:
        return None
    return international


def _phone(platform: str, text: str, country: str | None) -> str | None:
    digits = _phone_digits(text, country)
    if digits is None:
        return None
    return digits if platform == "meta" else f"+{digits}"


def calling_code(country: str | None) -> str | None:
    """The E.164 country calling code of an ISO alpha-2 country ("GB" -> "44"), if known."""
    code = _country_or_none(country)
    return _CALLING_CODES.get(code) if code else None


def e164(value: Any, default_country: str | None = None) -> str | None:
    """A phone number in E.164 (``+4420...``) or None; for SMS sends as well as hashing."""
    if value is None or not str(value).strip():
        return None
    return _phone("google", str(value), _country_or_none(default_country))


# -- names, places ------------------------------------------------------------------------

_NAME_AFFIXES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "mme", "mlle", "herr", "frau",
    "jr", "sr", "ii", "iii", "iv", "phd", "md", "esq",
})


def _strip_punctuation(text: str) -> str:
    """Drop Unicode punctuation and symbols; letters (with accents), digits and spaces stay."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))


def _name(platform: str, text: str, _country: str | None) -> str | None:
    value = unicodedata.normalize("NFC", text).lower()
    if platform == "google":
        # "Don't include prefixes such as Mrs." / "suffixes such as Jr."
        words = [w for w in re.split(r"\s+", value.strip()) if _strip_punctuation(w) not in _NAME_AFFIXES]
        value = " ".join(words)
    value = _strip_punctuation(value)
    value = re.sub(r"\s+", " ", value).strip()  # "remove any extra spaces before, after and in between"
    return value or None


def _letters_only(text: str) -> str:
    """Meta's city / state rule: lower-case, no punctuation, no special characters, no spaces."""
    value = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in value if unicodedata.category(ch).startswith("L"))


def _city(_platform: str, text: str, _country: str | None) -> str | None:
    return _letters_only(text) or None


_US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc", "florida": "fl",
    "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia",
    "kansas": "ks", "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md",
    "massachusetts": "ma", "michigan": "mi", "minnesota": "mn", "mississippi": "ms", "missouri": "mo",
    "montana": "mt", "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj",
    "newmexico": "nm", "newyork": "ny", "northcarolina": "nc", "northdakota": "nd", "ohio": "oh",
    "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc",
    "southdakota": "sd", "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt",
    "virginia": "va", "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "puertorico": "pr",
}


def _state(_platform: str, text: str, country: str | None) -> str | None:
    value = _letters_only(text)
    if not value:
        return None
    # "Use the 2-character ANSI abbreviation code in lowercase" (US); elsewhere letters only
    if country in (None, "US"):
        return _US_STATES.get(value, value)
    return value


# -- zip, country ----------------------------------------------------------------------------

_US_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


def _zip(platform: str, text: str, country: str | None) -> str | None:
    value = text.strip()
    if platform == "google":
        # sent in clear: "5 digits or 5 digits followed by a 4-digit extension" for the US,
        # other countries as written (without extensions)
        value = re.sub(r"\s+", " ", value)
        return value or None
    compact = re.sub(r"[\s\-]", "", value.lower())
    us = _US_ZIP.match(re.sub(r"\s", "", value))
    if us and country in (None, "US"):
        return us.group(1)  # "Use only the first 5 digits for U.S. zip codes"
    return compact or None


_COUNTRY_NAMES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US", "u.s.": "US",
    "america": "US", "united kingdom": "GB", "uk": "GB", "u.k.": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB", "germany": "DE",
    "deutschland": "DE", "france": "FR", "spain": "ES", "españa": "ES", "italy": "IT", "italia": "IT",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "belgium": "BE", "austria": "AT",
    "österreich": "AT", "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "ireland": "IE",
    "portugal": "PT", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
    "poland": "PL", "polska": "PL", "czech republic": "CZ", "czechia": "CZ", "česko": "CZ",
    "slovakia": "SK", "hungary": "HU", "romania": "RO", "bulgaria": "BG", "greece": "GR",
    "croatia": "HR", "slovenia": "SI", "estonia": "EE", "latvia": "LV", "lithuania": "LT",
    "luxembourg": "LU", "malta": "MT", "cyprus": "CY", "iceland": "IS", "canada": "CA",
    "mexico": "MX", "méxico": "MX", "brazil": "BR", "brasil": "BR", "argentina": "AR",
    "chile": "CL", "colombia": "CO", "peru": "PE", "australia": "AU", "new zealand": "NZ",
    "japan": "JP", "china": "CN", "india": "IN", "singapore": "SG", "south korea": "KR",
    "korea": "KR", "israel": "IL", "turkey": "TR", "türkiye": "TR", "ukraine": "UA",
    "south africa": "ZA", "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA",
}
_ISO3 = {
    "USA": "US", "GBR": "GB", "DEU": "DE", "FRA": "FR", "ESP": "ES", "ITA": "IT", "NLD": "NL",
    "BEL": "BE", "AUT": "AT", "CHE": "CH", "IRL": "IE", "PRT": "PT", "SWE": "SE", "NOR": "NO",
    "DNK": "DK", "FIN": "FI", "POL": "PL", "CZE": "CZ", "SVK": "SK", "HUN": "HU", "ROU": "RO",
    "CAN": "CA", "MEX": "MX", "BRA": "BR", "AUS": "AU", "NZL": "NZ", "JPN": "JP", "CHN": "CN",
    "IND": "IN",
}


def country_code(value: Any) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) from a code or a common English/local name, else None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    upper = text.upper()
    if len(upper) == 2 and upper.isalpha():
        return "GB" if upper == "UK" else upper
    if len(upper) == 3 and upper in _ISO3:
        return _ISO3[upper]
    return _COUNTRY_NAMES.get(re.sub(r"\s+", " ", text.lower()))


def _country_or_none(value: str | None) -> str | None:
    return country_code(value) if value else None


def _country(platform: str, text: str, _country: str | None) -> str | None:
    code = country_code(text)
    if code is None:
        return None
    return code.lower() if platform == "meta" else code


# -- date of birth, gender, external id ----------------------------------------------------

def _dob(value: dt.date | dt.datetime) -> str | None:
    day = value.date() if isinstance(value, dt.datetime) else value
    if not 1900 <= day.year <= dt.date.today().year:  # "YYYY format from 1900 to current year"
        return None
    return day.strftime("%Y%m%d")


def _date_of_birth(_platform: str, text: str, _country: str | None) -> str | None:
    value = text.strip()
    match = re.match(r"^(\d{4})-?(\d{1,2})-?(\d{1,2})(?:[T ].*)?$", value)  # ISO, YYYYMMDD
    if match:
        year, month, day = match.groups()
    elif match := re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", value):
        month, day, year = match.groups()  # US order, as in Meta's example 2/16/1997
    elif match := re.match(r"^(\d{1,2})[.\-](\d{1,2})[.\-](\d{4})$", value):
        day, month, year = match.groups()  # European order with dots or dashes
    else:
        return None
    try:
        return _dob(dt.date(int(year), int(month), int(day)))
    except ValueError:
        return None


_GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}


def _gender(_platform: str, text: str, _country: str | None) -> str | None:
    # "We accept gender in the form of an initial in lowercase": m, f; anything else is unusable
    return _GENDERS.get(text.strip().lower())


def _external_id(_platform: str, text: str, _country: str | None) -> str | None:
    return text.strip() or None


_NORMALISERS: dict[str, Callable[[str, str, str | None], str | None]] = {
    "email": _email, "phone": _phone, "first_name": _name, "last_name": _name, "city": _city,
    "state": _state, "zip": _zip, "country": _country, "date_of_birth": _date_of_birth,
    "gender": _gender, "external_id": _external_id,
}


# -- `kairos hash` ----------------------------------------------------------------------------

def add_hash_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``hash`` sub-command to an ``add_subparsers()`` object (sets ``func``)."""
    parser = subparsers.add_parser(
        "hash", help="normalise and SHA-256 one identifier as Meta or Google expect it, print JSON",
        description="Normalise an identifier by the platform's documented rules and print it with its SHA-256.",
    )
    _add_hash_arguments(parser)
    parser.set_defaults(func=run_hash)
    return parser


def _add_hash_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", required=True, choices=PLATFORMS, help="meta or google")
    parser.add_argument("--field", required=True, help=f"one of: {', '.join(FIELDS)}")
    parser.add_argument("--country", default=None,
                        help="default country (ISO alpha-2) for phone numbers without a country code")
    parser.add_argument("value", help="the raw value, e.g. ' John_Smith@Gmail.com '")


def run_hash(args: argparse.Namespace) -> int:
    """Print ``{"platform", "field", "input", "normalised", "sha256", "sent_hashed"}`` as JSON.

    Exit 0 on success, 1 if the value cannot be normalised, 2 for an
    unsupported platform or field.
    """
    try:
        norm, digest = hash_value(args.platform, args.field, args.value, args.country)
        hashed = is_hashed(args.platform, args.field)
    except UnsupportedField as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if norm is None:
        print(f"error: {args.value!r} is not a usable {args.field} for {args.platform}", file=sys.stderr)
        return 1
    print(json.dumps({"platform": args.platform, "field": args.field, "input": args.value,
                      "normalised": norm, "sha256": digest, "sent_hashed": hashed}, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m syncs.hashing --platform meta --field email VALUE``."""
    parser = argparse.ArgumentParser(prog="kairos hash", description=__doc__.splitlines()[0])
    _add_hash_arguments(parser)
    return run_hash(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
