"""The small framework the routes share: a request (`Call`), an answer (`Reply`), errors,
a router keyed by GitHub's own path templates, and GitHub-style pagination.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from .objects import JSON, Site, error
from .state import Repo, Token, User, World

# GitHub's page sizes: 30 unless `per_page` asks otherwise, 100 at most.
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100


class HTTPError(Exception):
    """Answer with GitHub's error body; raised anywhere inside a route."""

    def __init__(self, status: int, message: str, errors: list[JSON] | None = None) -> None:
        super().__init__(message)
        self.reply = Reply(status, error(status, message, errors))


@dataclass
class Reply:
    """What the stand-in answers: a status, a JSON body (or None), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One authenticated request as a route sees it."""

    world: World
    site: Site
    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: Token
    params: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> User:
        """The account the token belongs to."""
        return self.world.user(self.token.login)

    @property
    def repo(self) -> Repo:
        """The repository named in the path (GitHub answers 404 for an unknown one)."""
        found = self.world.repo(f"{self.params['owner']}/{self.params['repo']}")
        if found is None:
            raise HTTPError(404, "Not Found")
        return found

    def field(self, name: str, kind: type | tuple[type, ...] = str, required: bool = False) -> Any:
        """A field of the JSON body, type-checked the way GitHub's 422 does."""
        body = self.body if isinstance(self.body, dict) else {}
        if name not in body or body[name] is None:
            if required:
                raise HTTPError(422, "Invalid request.\n\n" + f'"{name}" wasn\'t supplied.')
            return None
        if not isinstance(body[name], kind):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise HTTPError(422, f"Invalid request.\n\nFor 'properties/{name}', {body[name]!r} is not a {names}.")
        return body[name]

    def integer(self, name: str, default: int) -> int:
        """An integer query parameter (GitHub ignores one that is not a number)."""
        value = self.query.get(name, "")
        return int(value) if value.isdigit() else default


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Routes registered with the spec's own path templates, e.g. `/repos/{owner}/{repo}`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        """Register the decorated function for `method template`."""

        def register(handler: Handler) -> Handler:
            # `{path}` (a file path) spans segments; every other parameter is one segment.
            regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>{'.+' if m[1] == 'path' else '[^/]+'})", template)
            self.routes.append(Route(method, template, re.compile(regex), handler))
            return handler

        return register

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return self.route("GET", template)

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return self.route("POST", template)

    def patch(self, template: str) -> Callable[[Handler], Handler]:
        return self.route("PATCH", template)

    def put(self, template: str) -> Callable[[Handler], Handler]:
        return self.route("PUT", template)

    def delete(self, template: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", template)


def find(routers: Sequence[Router], method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    """The handler for a request and its (unquoted) path parameters."""
    best: tuple[int, Handler, dict[str, str]] | None = None
    for router in routers:
        for route in router.routes:
            match = route.pattern.fullmatch(path)
            if match and route.method == method:
                # The most literal template wins: /issues/comments/1 is not issue "comments".
                literals = route.template.count("/") - route.template.count("{")
                if best is None or literals > best[0]:
                    best = (literals, route.handler, {k: unquote(v) for k, v in match.groupdict().items()})
    return None if best is None else best[1:]


def paginate(call: Call, items: Sequence[JSON]) -> Reply:
    """One page of `items`, with GitHub's `Link` header (prev/next/last/first) when there are several."""
    per_page = min(max(call.integer("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    pages = max(1, -(-len(items) // per_page))
    page = max(call.integer("page", 1), 1)
    chunk = list(items[(page - 1) * per_page : page * per_page])
    links = []
    for rel, target in (("prev", page - 1), ("next", page + 1), ("last", pages), ("first", 1)):
        wanted = (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < pages)
        if wanted:
            query = urlencode({**call.query, "page": target})
            links.append(f'<{call.site.api}{call.path}?{query}>; rel="{rel}"')
    return Reply(200, chunk, {"link": ", ".join(links)} if links else {})
