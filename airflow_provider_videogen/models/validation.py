"""How a broken limit is reported, and the input rules both request kinds share (URLs, images).

Every request is validated when it is built, which is before any HTTP request is sent: a user
who breaks a limit pays nothing and gets a message naming the field, the value and what is
allowed. This module holds what makes those messages good (:class:`FieldLimitError` for
model-level rules, :func:`explain_validation_error` to strip pydantic's noise, :func:`in_range`
for declarative numeric limits) and the URL and image checks that generation and remix requests
both apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ValidationError, ValidationInfo

from airflow_provider_videogen.hooks.addresses import host_is_private
from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.models.catalogue import CALLBACK_URL_MAX_LENGTH, IMAGE_EXTENSIONS

#: Fields whose values are links that may carry a secret (a presigned image, a webhook token):
#: an error names them as :func:`~airflow_provider_videogen.hooks.redaction.redact_url` shows them.
LINK_FIELDS = frozenset({"image_urls", "callback_url", "input_references"})


def shown_input(value: Any) -> str:
    """A link field's input as an error may show it: every string as a redacted link."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown_input(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key!r}: {shown_input(item)}" for key, item in value.items()) + "}"
    return repr(value) if value is None or isinstance(value, (bool, int, float)) else type(value).__name__


class FieldLimitError(ValueError):
    """A limit broken by one field, raised where pydantic cannot attach a location (model-level rules)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def explain_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` for each problem of a pydantic ``ValidationError``, without pydantic's noise.

    Model-level rules raise :class:`FieldLimitError` so that the field is known even where
    pydantic reports no location; the gateway simulator uses this to fill ``param``.
    """
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ()))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldLimitError):
            loc = cause.field
        message = str(cause) if isinstance(cause, Exception) else err.get("msg", "")
        if err.get("type") == "missing":
            message = f"{loc} is required"
        elif err.get("type") == "extra_forbidden":
            message = f"{loc} is not a known field (put new API fields in extra_params)"
        elif not isinstance(cause, Exception):
            top = str(err.get("loc", ("",))[0]) if err.get("loc") else ""
            value = shown_input(err.get("input")) if top in LINK_FIELDS else repr(err.get("input"))
            message = f"{loc}={value}: {message}"
        problems.append((loc or "request", message))
    return problems


def allowed_values(values: tuple[Any, ...]) -> str:
    if values and all(isinstance(v, int) for v in values) and len(values) > 3:
        ints = [int(v) for v in values]
        if ints == list(range(min(ints), max(ints) + 1)):
            return f"an integer from {min(ints)} to {max(ints)}"
    return "one of " + ", ".join(repr(v) for v in values)


def in_range(bounds: tuple[int, int], unit: str = "") -> AfterValidator:
    """A declarative ``low <= value <= high`` limit whose message names the field, the value and the range.

    Used as ``Annotated[int, in_range(N_RANGE, "videos")]``, so the limit sits on the field the
    way ``Field(ge=, le=)`` would; it is not ``Field(ge=, le=)`` because pydantic's own message
    ("Input should be less than or equal to 4") names only the bound that was crossed, not the
    range the user can choose from.
    """
    low, high = bounds
    suffix = f" {unit}" if unit else ""

    def check(value: int, info: ValidationInfo) -> int:
        if not low <= value <= high:
            raise ValueError(f"{info.field_name}={value} is out of range; allowed: {low} to {high}{suffix}")
        return value

    return AfterValidator(check)


# --------------------------------------------------------------------------------------------
# URL rules
# --------------------------------------------------------------------------------------------


def validate_callback_url(url: str) -> str:
    """Apply the gateway's callback rules: HTTPS only, no private/loopback/link-local host, <= 2048 chars."""
    if len(url) > CALLBACK_URL_MAX_LENGTH:
        raise ValueError(f"callback_url is {len(url)} characters long; at most {CALLBACK_URL_MAX_LENGTH} are allowed")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise ValueError(
            f"callback_url {redact_url(url)} must use https:// (the gateway refuses {parts.scheme or 'no'} scheme)"
        )
    if not parts.hostname:
        raise ValueError(f"callback_url {redact_url(url)} has no host")
    if host_is_private(parts.hostname):  # the downloads' address check, without DNS (hooks/addresses.py)
        raise ValueError(
            f"callback_url host {parts.hostname!r} is a private, loopback or link-local address; "
            "the gateway only calls back public HTTPS hosts"
        )
    return url


def check_image_url(url: str, field_name: str) -> str:
    """An image URL the gateway can fetch: http(s), and not a known non-image file type.

    A URL without a suffix, or with one not listed, passes: image CDNs often serve extension-less
    paths, and refusing them here would block requests the gateway accepts.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field_name} entry {redact_url(url)} must be an http(s) URL the gateway can download")
    suffix = _suffix(parts.path)
    if suffix and suffix not in IMAGE_EXTENSIONS and suffix in _KNOWN_NON_IMAGE_SUFFIXES:
        raise ValueError(
            f"{field_name} entry {redact_url(url)} is a {suffix} file; allowed formats: {', '.join(IMAGE_EXTENSIONS)}"
        )
    return url


_KNOWN_NON_IMAGE_SUFFIXES = frozenset(
    {
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".svg",
        ".heic",
        ".heif",
        ".avif",
        ".ico",
        ".mp4",
        ".mov",
        ".pdf",
        ".txt",
    }
)


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""


# --------------------------------------------------------------------------------------------
# Image rules
# --------------------------------------------------------------------------------------------


def sniff_image_type(data: bytes) -> str | None:
    """Content type from an image's magic bytes, or ``None`` when it is not jpg/png/webp."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
