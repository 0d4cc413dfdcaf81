"""Google Ads API (REST): OfflineUserDataJobService for Customer Match, plus googleAds:search."""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import FakeServer, Recorded, Response, bearer

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _error(code: int, status: str, message: str, error_code: dict[str, str] | None = None) -> Response:
    details = [{"@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                "errors": [{"errorCode": error_code or {"requestError": "UNKNOWN"}, "message": message}]}]
    return Response(code, {"error": {"code": code, "message": message, "status": status, "details": details}})


class FakeGoogleAds(FakeServer):
    """Bearer token + ``developer-token`` header; create -> addOperations -> run.

    Identifiers are checked like the API does: hashed fields must be SHA-256
    hex (INVALID_SHA256_FORMAT otherwise, a partial failure when
    ``enablePartialFailure`` is set), an address needs all four parts.
    Identifiers whose hashed value is in ``refuse`` fail the same way (the
    "some rows rejected" fault). ``jobs`` maps resource name -> job state;
    ``members`` is the user list.
    """

    def __init__(self, customer_id: str, user_list_id: str, access_token: str, developer_token: str, *,
                 refuse: set[str] | None = None) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.user_list = f"customers/{customer_id}/userLists/{user_list_id}"
        self.access_token = access_token
        self.developer_token = developer_token
        self.jobs: dict[str, dict[str, Any]] = {}
        self.members: set[str] = set()
        self.refuse = refuse or set()

    def handle(self, request: Recorded) -> Response:
        if bearer(request) != self.access_token:
            return _error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.",
                          {"authenticationError": "OAUTH_TOKEN_INVALID"})
        if request.headers.get("developer-token") != self.developer_token:
            return _error(401, "UNAUTHENTICATED", "The developer token is not valid.",
                          {"authenticationError": "DEVELOPER_TOKEN_INVALID"})
        if request.method != "POST" or not request.headers.get("content-type", "").startswith("application/json"):
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = request.json() or {}
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        prefix = rf"^/v\d+/customers/{self.customer_id}"
        if re.match(prefix + r"/offlineUserDataJobs:create$", request.path):
            return self._create(body)
        if match := re.match(prefix + r"/offlineUserDataJobs/(\d+):addOperations$", request.path):
            return self._add(f"customers/{self.customer_id}/offlineUserDataJobs/{match.group(1)}", body)
        if match := re.match(prefix + r"/offlineUserDataJobs/(\d+):run$", request.path):
            return self._run(f"customers/{self.customer_id}/offlineUserDataJobs/{match.group(1)}")
        if re.match(prefix + r"/googleAds:search$", request.path):
            return self._search(body)
        return _error(404, "NOT_FOUND", "The requested URL was not found on this server.")

    def _create(self, body: dict[str, Any]) -> Response:
        job = body.get("job") or {}
        metadata = job.get("customerMatchUserListMetadata") or {}
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST":
            return _error(400, "INVALID_ARGUMENT", "Invalid job type.", {"offlineUserDataJobError": "INVALID_JOB_TYPE"})
        if metadata.get("userList") != self.user_list:
            return _error(400, "INVALID_ARGUMENT", "The user list is not accessible.",
                          {"offlineUserDataJobError": "INVALID_USER_LIST_ID"})
        with self.lock:
            name = f"customers/{self.customer_id}/offlineUserDataJobs/{len(self.jobs) + 1}"
            self.jobs[name] = {"status": "PENDING", "externalId": job.get("externalId"), "operations": [],
                               "consent": metadata.get("consent")}
        return Response(200, {"resourceName": name})

    def _add(self, name: str, body: dict[str, Any]) -> Response:
        job = self.jobs.get(name)
        if job is None:
            return _error(404, "NOT_FOUND", "Resource was not found.")
        if job["status"] != "PENDING":
            return _error(400, "INVALID_ARGUMENT", "The job is not pending.",
                          {"offlineUserDataJobError": "INVALID_JOB_STATUS"})
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            return _error(400, "INVALID_ARGUMENT", "Operations are required.")
        errors = []
        accepted = []
        for index, operation in enumerate(operations):
            problem = self._check_operation(operation)
            if problem:
                errors.append({"errorCode": {"offlineUserDataJobError": problem[0]}, "message": problem[1],
                               "location": {"fieldPathElements": [{"fieldName": "operations", "index": index},
                                                                  {"fieldName": "create"}]}})
            else:
                accepted.append(operation)
        if errors and not body.get("enablePartialFailure"):
            return _error(400, "INVALID_ARGUMENT", errors[0]["message"], errors[0]["errorCode"])
        with self.lock:
            job["operations"].extend(accepted)
        if not errors:
            return Response(200, {})
        return Response(200, {"partialFailureError": {
            "code": 3, "message": f"{errors[0]['message']}, at operations[{errors[0]['location']['fieldPathElements'][0]['index']}]",
            "details": [{"@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                         "errors": errors}]}})

    def _check_operation(self, operation: dict[str, Any]) -> tuple[str, str] | None:
        verbs = [v for v in ("create", "remove") if v in operation]
        if len(verbs) != 1:
            return "INVALID_OPERATION", "Exactly one of create / remove is required."
        identifiers = (operation[verbs[0]] or {}).get("userIdentifiers") or []
        if not identifiers or len(identifiers) > 20:
            return "TOO_MANY_USER_IDENTIFIERS" if identifiers else "MISSING_USER_IDENTIFIER", \
                "Between 1 and 20 user identifiers are required."
        for ident in identifiers:
            for key in ("hashedEmail", "hashedPhoneNumber"):
                if key in ident and (not _HEX64.match(str(ident[key])) or ident[key] in self.refuse):
                    return "INVALID_SHA256_FORMAT", f"{key} is not a SHA-256 hash."
            address = ident.get("addressInfo")
            if address is not None:
                if not all(address.get(k) for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode")):
                    return "INCOMPATIBLE_USER_IDENTIFIER", "Address info needs first name, last name, country, zip."
                if not all(_HEX64.match(address[k]) for k in ("hashedFirstName", "hashedLastName")):
                    return "INVALID_SHA256_FORMAT", "Names must be SHA-256 hashes."
        return None

    def _run(self, name: str) -> Response:
        job = self.jobs.get(name)
        if job is None:
            return _error(404, "NOT_FOUND", "Resource was not found.")
        with self.lock:
            for operation in job["operations"]:
                verb = "create" if "create" in operation else "remove"
                for ident in operation[verb]["userIdentifiers"]:
                    value = repr(sorted(ident.items()))
                    (self.members.add if verb == "create" else self.members.discard)(value)
            job["status"] = "SUCCESS"
        return Response(200, {"name": f"customers/{self.customer_id}/operations/{uuid.uuid4().hex}"})

    def _search(self, body: dict[str, Any]) -> Response:
        match = re.search(r"offline_user_data_job\.external_id\s*=\s*(\d+)", body.get("query") or "")
        results = []
        with self.lock:
            for name, job in self.jobs.items():
                if match and job["externalId"] == match.group(1):
                    results.append({"offlineUserDataJob": {"resourceName": name, "status": job["status"],
                                                           "externalId": job["externalId"]}})
        return Response(200, {"results": results, "fieldMask": "offlineUserDataJob.resourceName,"
                                                                 "offlineUserDataJob.status"})
