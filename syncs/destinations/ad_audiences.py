"""Paid-media audiences: Meta custom audiences and Google Ads Customer Match.

Both take hashed identifiers only (``syncs.hashing`` normalises and hashes
them by each platform's documented rules). The payload columns are named
after Kairos's identifier fields, renamed in the sync definition's ``fields``
where the model differs::

    email, phone, first_name, last_name, city, state, zip, country,
    date_of_birth, gender, external_id

A column that is not an identifier is an error (nothing but match keys leaves
for an ad platform). A row with no usable identifier is rejected before any
request. Operation ``insert`` / ``upsert`` adds members; ``delete`` (mirror
removals) removes them.

Meta (type ``meta_custom_audience``)
------------------------------------
``POST /v{version}/{audience_id}/users`` (``DELETE`` for removals), form
fields ``payload`` = ``{"schema": ["EMAIL", "PHONE", ...], "data": [[hash,
hash, ...], ...]}`` and ``session`` = ``{"session_id", "batch_seq",
"last_batch_flag", "estimated_num_total"}``, at most 10,000 rows a request.
The session id is derived from the batch id, so a resent batch is the same
session. Answer: ``{"audience_id", "session_id", "num_received",
"num_invalid_entries", "invalid_entry_samples"}``; rows found among the
invalid samples are rejected. Throttling answers (error codes 4, 17, 32, 613,
80003) are retried like a 429. Date of birth travels as DOBY / DOBM / DOBD,
``external_id`` as EXTERN_ID in clear (hashed with ``hash_external_id:
true``). Memberships are a set: resending a batch is harmless
(``batch_delivered`` answers False).

Options::

    destination:
      type: meta_custom_audience
      audience_id: "23850000000000000"
      access_token_env: KAIROS_META_ACCESS_TOKEN
      app_secret_env: KAIROS_META_APP_SECRET    # optional: adds appsecret_proof
      api_version: v25.0
      default_country: GB                       # for national phone numbers
      hash_external_id: false

Google (type ``google_customer_match``)
---------------------------------------
One OfflineUserDataJob per batch: ``POST /{version}/customers/{id}/
offlineUserDataJobs:create`` (``type: CUSTOMER_MATCH_USER_LIST``, the user
list, optional consent, and ``externalId`` derived from the batch id), then
``{job}:addOperations`` with ``enablePartialFailure`` (``create`` or
``remove`` operations whose ``userIdentifiers`` hold ``hashedEmail``,
``hashedPhoneNumber``, ``addressInfo`` {hashedFirstName, hashedLastName,
countryCode, postalCode} and ``thirdPartyUserId``), then ``{job}:run``.
Operations named in ``partialFailureError`` are rejected rows. After a crash,
``batch_delivered`` searches for the job by its external id
(``googleAds:search``): a job that was run means the batch landed.
Headers: ``Authorization: Bearer``, ``developer-token``, optional
``login-customer-id``.

Options::

    destination:
      type: google_customer_match
      customer_id: "1234567890"
      user_list_id: "987654321"
      access_token_env: KAIROS_GOOGLE_ADS_ACCESS_TOKEN
      developer_token_env: KAIROS_GOOGLE_ADS_DEVELOPER_TOKEN
      login_customer_id: "1112223333"          # optional (manager account)
      api_version: v21
      default_country: GB
      consent: {ad_user_data: GRANTED, ad_personalization: GRANTED}   # optional, needed for EEA users
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from syncs import hashing, http
from syncs.destinations.base import Batch, BatchOutcome, Destination

log = logging.getLogger("kairos.syncs.ad_audiences")

META_KEYS = {
    "email": "EMAIL", "phone": "PHONE", "first_name": "FN", "last_name": "LN", "city": "CT", "state": "ST",
    "zip": "ZIP", "country": "COUNTRY", "gender": "GEN", "external_id": "EXTERN_ID",
}
META_MAX_ROWS = 10_000  # "only up to 10000 at a time"
META_THROTTLE_CODES = frozenset({4, 17, 32, 613, 80003, 80004})
META_FATAL_CODES = frozenset({10, 102, 190, 200, 294})  # permissions and tokens
GOOGLE_MAX_OPERATIONS = 10_000
CONSENT_VALUES = ("GRANTED", "DENIED", "UNSPECIFIED")


def _identifier_columns(batch: Batch, platform: str) -> list[str]:
    supported = hashing.supported_fields(platform)
    extra = [c for c in batch.rows.column_names if c not in supported]
    if extra:
        raise ValueError(
            f"{platform}: columns {extra} are not identifiers {platform} matches on "
            f"({', '.join(supported)}); rename them in the sync's fields or leave them out"
        )
    return [f for f in supported if f in batch.rows.column_names]


def _batch_number(batch_id: str) -> int:
    """A positive int64 derived from the batch id (session ids, job external ids)."""
    return int(hashlib.sha256(batch_id.encode()).hexdigest()[:15], 16)


def _country_option(options: Mapping[str, Any]) -> str | None:
    value = options.get("default_country")
    if value is None:
        return None
    code = hashing.country_code(value)
    if code is None or hashing.calling_code(code) is None:
        raise ValueError(f"destination.default_country: {value!r} is not a country code Kairos knows (e.g. GB)")
    return code


# -- Meta ----------------------------------------------------------------------------------

class MetaCustomAudienceDestination(Destination):
    """Adds and removes members of a Meta customer-file custom audience."""

    type_name: ClassVar[str] = "meta_custom_audience"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})
    _OPTIONS = frozenset({"base_url", "audience_id", "access_token_env", "app_secret_env", "api_version",
                          "default_country", "hash_external_id", "max_rows_per_request"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, cls._OPTIONS)
        out: dict[str, Any] = {
            "base_url": http.check_base_url(options, "base_url", "https://graph.facebook.com"),
            "audience_id": http.check_str(options, "audience_id", required=True, pattern=r"^\d{5,20}$",
                                          hint="the custom audience id, digits"),
            "access_token_env": http.check_env_name(options, "access_token_env"),
            "app_secret_env": http.check_env_name(options, "app_secret_env", required=False),
            "api_version": http.check_str(options, "api_version", default="v25.0", pattern=r"^v\d+\.\d+$",
                                          hint="e.g. v25.0"),
            "default_country": _country_option(options),
            "hash_external_id": http.check_bool(options, "hash_external_id", False),
            "max_rows_per_request": options.get("max_rows_per_request", META_MAX_ROWS),
        }
        limit = out["max_rows_per_request"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= META_MAX_ROWS:
            raise ValueError(f"destination.max_rows_per_request: {limit!r} must be between 1 and {META_MAX_ROWS}")
        out.update(http.validate_http_options(options, defaults={"concurrency": 2}))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None
        self._proof: str | None = None

    def describe(self) -> str:
        return f"meta custom audience {self.options['audience_id']}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        token = http.env_secret(self.options, "access_token_env")
        assert token is not None
        secret = http.env_secret(self.options, "app_secret_env") if self.options["app_secret_env"] else None
        # appsecret_proof: HMAC-SHA256 of the access token keyed with the app secret
        self._proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest() if secret else None
        self.client = http.HttpClient.from_options(self.options["base_url"], self.options,
                                                   headers={"Authorization": f"Bearer {token}"},
                                                   name=f"meta:{self.sync.name}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def encode(self, batch: Batch) -> tuple[list[str], list[list[str | None]], list[int]]:
        """``(schema, data rows, positions in the batch)``; rows without any identifier are left out."""
        fields = _identifier_columns(batch, "meta")
        country = self.options["default_country"]
        schema: list[str] = []
        columns: list[list[str | None]] = []
        for field in fields:
            column = batch.rows.column(field)
            if field == "date_of_birth":
                dates = [hashing.normalise("meta", "date_of_birth", v) for v in column.to_pylist()]
                for key, part in (("DOBY", slice(0, 4)), ("DOBM", slice(4, 6)), ("DOBD", slice(6, 8))):
                    schema.append(key)
                    columns.append([hashing.sha256_hex(d[part]) if d else None for d in dates])
                continue
            if field == "external_id" and not self.options["hash_external_id"]:
                values = hashing.hash_column("meta", field, column, country, upload=True)
            else:
                values = hashing.hash_column("meta", field, column, country, upload=False)
            schema.append(META_KEYS[field])
            columns.append(values.to_pylist())
        data, positions = [], []
        for i in range(batch.num_rows):
            row = [col[i] for col in columns]
            if any(v is not None for v in row):
                # Meta wants every schema position filled: an empty string for "unknown"
                data.append([v if v is not None else "" for v in row])
                positions.append(i)
        return schema, data, positions

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        keys = batch.keys.to_pylist()
        schema, data, positions = self.encode(batch)
        outcomes = http.RowOutcomes()
        kept = set(positions)
        for i, key in enumerate(keys):
            if i not in kept:
                outcomes.add(key, "rejected", reason="no usable identifier (after Meta's normalisation)")
        if not data:
            return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())
        method = "DELETE" if batch.operation == "delete" else "POST"
        path = f"/{self.options['api_version']}/{self.options['audience_id']}/users"
        session_id = _batch_number(batch.batch_id)
        parts = http.chunks(len(data), int(self.options["max_rows_per_request"]))
        for seq, part in enumerate(parts, start=1):
            form = {
                "payload": json.dumps({"schema": schema, "data": data[part.start:part.stop]}, separators=(",", ":")),
                "session": json.dumps({"session_id": session_id, "batch_seq": seq,
                                       "last_batch_flag": seq == len(parts), "estimated_num_total": len(data)}),
            }
            if self._proof:
                form["appsecret_proof"] = self._proof
            assert self.client is not None
            response = self.client.request(method, path, data=form, cost=len(part), retry_if=_meta_throttled)
            body = http.json_or_none(response)
            body = body if isinstance(body, Mapping) else {}
            if not 200 <= response.status_code < 300:
                error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
                cls = http.FatalDestinationError if error.get("code") in META_FATAL_CODES else http.HttpError
                raise cls(f"meta {method} {path}: HTTP {response.status_code} code {error.get('code')}: "
                          f"{error.get('message') or response.text[:300]}", status=response.status_code,
                          body=response.text)
            received = body.get("num_received")
            if isinstance(received, int) and received != len(part):
                raise http.HttpError(f"meta: sent {len(part)} rows, Meta received {received}")
            self._invalid(body, data, positions, part, keys, outcomes, response.status_code)
        return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())

    @staticmethod
    def _invalid(body: Mapping[str, Any], data: list[list[str]], positions: list[int], part: range,
                 keys: list[str], outcomes: http.RowOutcomes, status: int) -> None:
        invalid = body.get("num_invalid_entries") or 0
        if not invalid:
            return
        samples = body.get("invalid_entry_samples") or {}
        reasons = dict(samples) if isinstance(samples, Mapping) else {str(s): "invalid entry" for s in samples}
        matched = 0
        for j in part:
            hit = next((v for v in data[j] if v and v in reasons), None)
            if hit is not None:
                outcomes.add(keys[positions[j]], "rejected", status_code=status,
                             reason=f"meta invalid entry: {reasons[hit]}")
                matched += 1
        if matched < int(invalid):
            log.warning("meta: %s invalid entries reported, %d matched to rows (Meta only returns samples)",
                        invalid, matched)

    def batch_delivered(self, batch_id: str) -> bool:
        return False  # audience membership is a set: resending is harmless


def _meta_throttled(response: Any) -> bool:
    """Meta signals throttling with error codes, sometimes under HTTP 400/403."""
    if response.status_code < 400:
        return False
    body = http.json_or_none(response)
    error = body.get("error") if isinstance(body, Mapping) else None
    return isinstance(error, Mapping) and (error.get("code") in META_THROTTLE_CODES
                                           or bool(error.get("is_transient")))


# -- Google ----------------------------------------------------------------------------------

class GoogleCustomerMatchDestination(Destination):
    """Adds and removes Customer Match members through an OfflineUserDataJob per batch."""

    type_name: ClassVar[str] = "google_customer_match"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})
    _OPTIONS = frozenset({"base_url", "customer_id", "user_list_id", "access_token_env", "developer_token_env",
                          "login_customer_id", "api_version", "default_country", "consent",
                          "max_operations_per_request"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, cls._OPTIONS)

        def digits(key: str, required: bool) -> str | None:
            value = options.get(key)
            if value is None:
                if required:
                    raise ValueError(f"destination.{key}: missing")
                return None
            text = str(value).replace("-", "")
            if not text.isdigit():
                raise ValueError(f"destination.{key}: {value!r} must be digits (dashes allowed)")
            return text

        out: dict[str, Any] = {
            "base_url": http.check_base_url(options, "base_url", "https://googleads.googleapis.com"),
            "customer_id": digits("customer_id", True),
            "user_list_id": digits("user_list_id", True),
            "login_customer_id": digits("login_customer_id", False),
            "access_token_env": http.check_env_name(options, "access_token_env"),
            "developer_token_env": http.check_env_name(options, "developer_token_env"),
            "api_version": http.check_str(options, "api_version", default="v21", pattern=r"^v\d+$", hint="e.g. v21"),
            "default_country": _country_option(options),
            "consent": None,
            "max_operations_per_request": options.get("max_operations_per_request", GOOGLE_MAX_OPERATIONS),
        }
        consent = options.get("consent")
        if consent is not None:
            if not isinstance(consent, Mapping) or set(consent) - {"ad_user_data", "ad_personalization"} \
                    or any(v not in CONSENT_VALUES for v in consent.values()):
                raise ValueError("destination.consent: {ad_user_data, ad_personalization} with values "
                                 f"{', '.join(CONSENT_VALUES)}")
            out["consent"] = dict(consent)
        limit = out["max_operations_per_request"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise ValueError(f"destination.max_operations_per_request: {limit!r} must be between 1 and 100000")
        out.update(http.validate_http_options(options, defaults={"concurrency": 2}))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None

    @property
    def _customer(self) -> str:
        return f"customers/{self.options['customer_id']}"

    def describe(self) -> str:
        return f"google customer match {self._customer}/userLists/{self.options['user_list_id']}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        token = http.env_secret(self.options, "access_token_env")
        developer_token = http.env_secret(self.options, "developer_token_env")
        headers = {"Authorization": f"Bearer {token}", "developer-token": str(developer_token),
                   "Content-Type": "application/json"}
        if self.options["login_customer_id"]:
            headers["login-customer-id"] = self.options["login_customer_id"]
        self.client = http.HttpClient.from_options(self.options["base_url"], self.options, headers=headers,
                                                   name=f"google-ads:{self.sync.name}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def user_identifiers(self, batch: Batch) -> list[list[dict[str, Any]]]:
        """Per row, the ``userIdentifiers`` list (empty when the row has nothing usable)."""
        fields = _identifier_columns(batch, "google")
        country = self.options["default_country"]
        cols: dict[str, list[Any]] = {
            f: hashing.hash_column("google", f, batch.rows.column(f), country).to_pylist() for f in fields
        }
        out: list[list[dict[str, Any]]] = []
        for i in range(batch.num_rows):
            ids: list[dict[str, Any]] = []
            if cols.get("email") and cols["email"][i]:
                ids.append({"hashedEmail": cols["email"][i]})
            if cols.get("phone") and cols["phone"][i]:
                ids.append({"hashedPhoneNumber": cols["phone"][i]})
            address = {k: cols[f][i] if f in cols else None for k, f in (
                ("hashedFirstName", "first_name"), ("hashedLastName", "last_name"),
                ("countryCode", "country"), ("postalCode", "zip"))}
            if all(address.values()):  # address matching needs all four
                ids.append({"addressInfo": address})
            if cols.get("external_id") and cols["external_id"][i]:
                ids.append({"thirdPartyUserId": cols["external_id"][i]})
            out.append(ids)
        return out

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        assert self.client is not None
        keys = batch.keys.to_pylist()
        identifiers = self.user_identifiers(batch)
        outcomes = http.RowOutcomes()
        rows = [i for i, ids in enumerate(identifiers) if ids]
        for i, ids in enumerate(identifiers):
            if not ids:
                outcomes.add(keys[i], "rejected", reason="no usable identifier (email, phone, or first name + "
                                                         "last name + country + zip, or external_id)")
        if not rows:
            return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())
        version = self.options["api_version"]
        metadata: dict[str, Any] = {"userList": f"{self._customer}/userLists/{self.options['user_list_id']}"}
        if self.options["consent"]:
            metadata["consent"] = {"adUserData": self.options["consent"].get("ad_user_data", "UNSPECIFIED"),
                                   "adPersonalization": self.options["consent"].get("ad_personalization",
                                                                                    "UNSPECIFIED")}
        job = {"type": "CUSTOMER_MATCH_USER_LIST", "externalId": str(_batch_number(batch.batch_id)),
               "customerMatchUserListMetadata": metadata}
        response = self.client.request("POST", f"/{version}/{self._customer}/offlineUserDataJobs:create",
                                       json={"job": job})
        self._check(response, "offlineUserDataJobs:create")
        job_name = (http.json_or_none(response) or {}).get("resourceName")
        if not job_name:
            raise http.HttpError("google ads: offlineUserDataJobs:create answered no resourceName")
        verb = "remove" if batch.operation == "delete" else "create"
        for part in http.chunks(len(rows), int(self.options["max_operations_per_request"])):
            chunk = rows[part.start:part.stop]
            body = {"enablePartialFailure": True,
                    "operations": [{verb: {"userIdentifiers": identifiers[i]}} for i in chunk]}
            response = self.client.request("POST", f"/{version}/{job_name}:addOperations", json=body,
                                           cost=len(chunk))
            self._check(response, "addOperations")
            self._partial_failures(http.json_or_none(response), chunk, keys, outcomes)
        response = self.client.request("POST", f"/{version}/{job_name}:run", json={})
        self._check(response, "run")
        return BatchOutcome(outputs=[job_name], row_outcomes=outcomes.table())

    def batch_delivered(self, batch_id: str) -> bool:
        """A job with this batch's external id that was run (RUNNING or SUCCESS) means delivered."""
        if self.client is None:
            self.open(self.run_id or "recovery")
        assert self.client is not None
        query = ("SELECT offline_user_data_job.resource_name, offline_user_data_job.status "
                 "FROM offline_user_data_job "
                 f"WHERE offline_user_data_job.external_id = {_batch_number(batch_id)}")
        response = self.client.request("POST", f"/{self.options['api_version']}/{self._customer}/googleAds:search",
                                       json={"query": query})
        self._check(response, "googleAds:search")
        results = (http.json_or_none(response) or {}).get("results") or []
        return any((r.get("offlineUserDataJob") or {}).get("status") in ("RUNNING", "SUCCESS") for r in results)

    @staticmethod
    def _check(response: Any, what: str) -> None:
        if 200 <= response.status_code < 300:
            return
        body = http.json_or_none(response)
        error = body.get("error") if isinstance(body, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else response.text[:300]
        cls = http.FatalDestinationError if response.status_code in (401, 403, 404) else http.HttpError
        raise cls(f"google ads {what}: HTTP {response.status_code}: {message}", status=response.status_code,
                  body=response.text)

    @staticmethod
    def _partial_failures(body: Any, chunk: list[int], keys: list[str], outcomes: http.RowOutcomes) -> None:
        failure = body.get("partialFailureError") if isinstance(body, Mapping) else None
        if not isinstance(failure, Mapping):
            return
        for detail in failure.get("details") or []:
            for error in (detail.get("errors") or []) if isinstance(detail, Mapping) else []:
                path = ((error.get("location") or {}).get("fieldPathElements") or [])
                index = next((p.get("index") for p in path if p.get("fieldName") == "operations"), None)
                if isinstance(index, int) and 0 <= index < len(chunk):
                    code = error.get("errorCode") or {}
                    code_text = ", ".join(f"{k}={v}" for k, v in code.items()) if isinstance(code, Mapping) else code
                    outcomes.add(keys[chunk[index]], "rejected", status_code=400,
                                 reason=f"{code_text}: {error.get('message', '')}".strip(": "))


__all__ = ["GoogleCustomerMatchDestination", "MetaCustomAudienceDestination"]
