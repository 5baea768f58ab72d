"""Validate the stand-in's responses against GitHub's own OpenAPI description (pinned).

The spec (tests/.cache/, fetched by tests/servers/fetch_github_openapi.py) is parsed and
indexed once per test session (`load_spec`). For each response the stand-in is about to
send, `Spec.violation(method, path, status, body)` finds the operation by method and path
template, picks the response for that status, and validates the body with
`openapi_schema_validator.OAS30Validator` — not plain jsonschema, which ignores OpenAPI
3.0's `nullable` and would reject every `null` the spec allows. `$ref`s resolve inside the
spec through a `referencing` registry; one compiled validator is kept per operation and
status.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from servers.fetch_github_openapi import SPEC_PATH, VERSION, is_current

SPEC_URI = "urn:github-openapi"
# Errors GitHub sends for any operation (401, 500, rate limits…) are rarely listed per
# operation; they all have this shape, so an undocumented error status is held to it.
ERROR_SCHEMA = "#/components/schemas/basic-error"
# A known flaw of the spec: its 409 for a contents PUT is `oneOf` basic-error and
# repository-rule-violation-error, two schemas with no required property that both accept
# GitHub's real 409 body, so `oneOf` rejects every body. GitHub sends a basic error there.
OVERRIDES = {("put", "/repos/{owner}/{repo}/contents/{path}", "409"): ERROR_SCHEMA}
# Routes GitHub still serves but no longer documents, each validated as its documented twin.
# PyGithub's Commit.get_statuses() calls the first.
LEGACY = {("get", "/repos/{owner}/{repo}/statuses/{sha}"): "/repos/{owner}/{repo}/commits/{ref}/statuses"}
# Parameters that span several path segments (a file path in the contents API).
GREEDY = {"path"}


@dataclass(frozen=True)
class Route:
    """One path template of the spec, compiled to match request paths."""

    template: str
    pattern: re.Pattern[str]
    literals: int  # how specific it is: /issues/comments beats /issues/{issue_number}


def _compile(template: str) -> Route:
    parts = []
    for segment in template.strip("/").split("/"):
        name = segment[1:-1] if segment.startswith("{") and segment.endswith("}") else None
        if name is None:
            parts.append(re.escape(segment))
        else:
            parts.append(".+" if name in GREEDY else "[^/]+")
    literals = sum(not s.startswith("{") for s in template.split("/"))
    return Route(template, re.compile("/" + "/".join(parts)), literals)


def _escape(token: str) -> str:
    """A JSON-pointer token (RFC 6901): `~` then `/` escaped."""
    return token.replace("~", "~0").replace("/", "~1")


class Spec:
    """GitHub's OpenAPI document, indexed for response validation; thread-safe."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.routes = sorted((_compile(t) for t in document["paths"]), key=lambda r: -r.literals)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(document))
        self._validators: dict[tuple[str, str, str], Validator | None] = {}
        self._lock = threading.Lock()

    def template(self, method: str, path: str) -> str | None:
        """The spec's path template for a request path (`None`: GitHub has no such operation)."""
        method = method.lower()
        for route in self.routes:
            if route.pattern.fullmatch(path):
                if method in self.document["paths"][route.template]:
                    return route.template
                if (method, route.template) in LEGACY:
                    return LEGACY[(method, route.template)]
        return None

    def violation(self, method: str, path: str, status: int, body: Any) -> str | None:
        """Why this response breaks the spec, or `None` when it conforms."""
        method = method.lower()
        template = self.template(method, path)
        if template is None:
            return f"{method.upper()} {path}: no such operation in GitHub's API"
        try:
            validator = self._validator(method, template, status)
        except LookupError as undocumented:
            return f"{method.upper()} {template} → {status}: {undocumented.args[0]}"
        where = f"{method.upper()} {template} → {status}"
        if validator is None:
            return None if body is None else f"{where}: the spec documents no body, one was sent"
        worst = best_match(validator.iter_errors(body))
        if worst is None:
            return None
        return f"{where}: {worst.message} (at {worst.json_path}, schema {'/'.join(map(str, worst.schema_path))})"

    def _validator(self, method: str, template: str, status: int) -> Validator | None:
        key = (method, template, str(status))
        with self._lock:
            if key not in self._validators:
                self._validators[key] = self._build(*key)
            return self._validators[key]

    def _build(self, method: str, template: str, status: str) -> Validator | None:
        """The compiled validator for one response (`None` when it has no body)."""
        pointer = self._schema_pointer(method, template, status)
        if pointer is None:
            return None
        return self.at(pointer)

    def _schema_pointer(self, method: str, template: str, status: str) -> str | None:
        if (method, template, status) in OVERRIDES:
            return OVERRIDES[(method, template, status)]
        responses = self.document["paths"][template][method]["responses"]
        if status not in responses:
            if int(status) >= 400:
                return ERROR_SCHEMA
            raise LookupError(f"status not documented (documented: {', '.join(responses)})")
        pointer = f"#/paths/{_escape(template)}/{method}/responses/{status}"
        response = responses[status]
        if "$ref" in response:  # a shared response such as #/components/responses/not_found
            pointer = response["$ref"]
            response = self._resolve(pointer)
        content = response.get("content")
        if not content:
            return None
        media = "application/json" if "application/json" in content else next(iter(content))
        return f"{pointer}/content/{_escape(media)}/schema"

    def _resolve(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.removeprefix("#/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def at(self, pointer: str) -> Validator:
        """A validator for the schema at a JSON pointer of the spec, e.g. '#/components/schemas/issue'."""
        schema = {"$ref": SPEC_URI + pointer}
        return OAS30Validator(schema, registry=self._registry, format_checker=oas30_format_checker)


@functools.cache
def load_spec() -> Spec:
    """The pinned spec, parsed and indexed once per process (~13 MB of JSON)."""
    if not is_current():
        raise RuntimeError(
            f"GitHub's OpenAPI description {VERSION} is missing or altered at {SPEC_PATH}: "
            "run `.venv/bin/python tests/servers/fetch_github_openapi.py` (make test does)"
        )
    with SPEC_PATH.open("rb") as handle:
        return Spec(json.load(handle))
