"""No secret reaches a log: bearer tokens, Authorization headers, session cookies, camera keys and
service tokens are masked in every log record, whoever logs it (aiohttp's bad-request log
prints the request's headers; a library may print a URL with a token in it).

:func:`install` puts the filter on the root logger's handlers, which every record passes through,
so it also covers loggers of libraries that propagate to the root.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactSecrets", "install", "redact"]

_PATTERNS = (
    # Authorization: Bearer xyz / 'Authorization': 'Basic ...' / authorization=...
    re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?)(?:bearer\s+|basic\s+)?[^\s'\",;)]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(alpr_session['\"]?\s*[=:,]\s*['\"]?)[^\s'\",;)]+"),
    re.compile(r"(?i)((?:password|secret|token|api[_-]?key)['\"]?\s*[=:]\s*['\"]?)[^\s'\",;&)]+"),
    re.compile(r"()alpr-svc-[A-Za-z0-9_-]+"),
)
MASK = "[redacted]"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Mask secrets in everything the root logger's handlers write (call after configuring them)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
