"""What every console route module shares: JSON answers, refusals in the use case's words, and
the fields of a JSON request body checked before a use case sees them (bad input is a 400 that
says which field and why; nothing is changed)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, overload

import orjson
from aiohttp import web

from streams.access.principal import Principal
from streams.errors import AccessDenied, AlprError, BrokerError, ConfigError, NotFound, PolicyViolation

__all__ = [
    "date_field",
    "error",
    "forbidden_page",
    "json_object",
    "number_field",
    "refused",
    "reply",
    "text_field",
]


def reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return reply({"error": message}, status)


def refused(exc: AlprError) -> web.Response:
    """A use case's refusal, with the words the CLI prints: not allowed 403 (P2, P21), a policy
    refusal 409 (P24 and the others), unknown 404, the broker down 503, bad input 400."""
    status = 400
    if isinstance(exc, AccessDenied):
        status = 403
    elif isinstance(exc, PolicyViolation):
        status = 409
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, BrokerError):
        status = 503
    return error(status, str(exc))


async def json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body when ``empty_ok``); ConfigError if it
    is not one."""
    if empty_ok and not await request.read():
        return {}
    try:
        body = await request.json(loads=orjson.loads)
    except ValueError as exc:
        raise ConfigError("send a JSON object") from exc
    if not isinstance(body, dict):
        raise ConfigError("send a JSON object")
    return body


def text_field(body: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{name}: send text")
    return value.strip()


@overload
def number_field(body: Mapping[str, Any], name: str, required: Literal[True] = True) -> float: ...
@overload
def number_field(body: Mapping[str, Any], name: str, required: bool) -> float | None: ...
def number_field(body: Mapping[str, Any], name: str, required: bool = True) -> float | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ConfigError(f"{name}: required (a number)")
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{name}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {value!r} is not a number") from exc


def date_field(body: Mapping[str, Any], name: str) -> date | None:
    text = text_field(body, name, required=False)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a date such as 2026-11-02") from exc


def forbidden_page(user: Principal, what: str) -> web.Response:
    """The page a signed-in person gets for a page their role may not use (P21), with the nav."""
    text = f"P21: the {user.role} role may not {what}."
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Not allowed · ALPR</title>
<link rel="stylesheet" href="/static/console.css"><script src="/static/nav.js" defer></script></head>
<body><header><h1>Not allowed</h1><a href="/home">Home</a></header>
<main class="home"><p id="page-message" class="error" role="alert">{html.escape(text)}</p></main>
</body></html>
"""
    return web.Response(text=body, status=403, content_type="text/html")
