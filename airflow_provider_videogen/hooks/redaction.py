"""Keep secrets out of logs, exceptions and XCom: the API key, and every download link.

One set of rules for every module that shows a URL or a response body (hook errors, retry log
lines, the S3 archive and its metadata, frame extraction, lineage, remix errors), so no two
places redact differently: a link is shown as :func:`redact_url` shows it, and registered with
the secrets masker by :func:`mask_link`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

    import httpx

#: Shorter paths and query strings are not secrets (and masking them would garble ordinary log text).
_MIN_MASKED_QUERY = 8


def _forms(secret: str) -> tuple[str, ...]:
    """The key as it may appear in text: as is, JSON-escaped, or as a Python repr escapes it."""
    escaped = json.dumps(secret)[1:-1]
    return tuple(dict.fromkeys((secret, escaped, repr(secret)[1:-1])))


def redact(text: str, secret: str | None) -> str:
    """Remove the API key from text that came from elsewhere (an error page may echo headers)."""
    if not secret:
        return text
    for form in _forms(secret):
        if form and form in text:
            text = text.replace(form, "***")
    return text


def redact_value(value: Any, secret: str | None) -> Any:
    """``value`` (a parsed JSON body: dicts, lists, strings) with the key removed from every string."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret) if isinstance(k, str) else k: redact_value(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, secret) for item in value]
    return value


def scrub_exception(exc: BaseException, secret: str | None) -> BaseException:
    """Remove the key from an exception's text and string attributes, in place; return it."""
    if not secret:
        return exc
    exc.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in exc.args)
    for name, attr in list(vars(exc).items()):
        if isinstance(attr, str):
            setattr(exc, name, redact(attr, secret))
    return exc


#: Hex digits of a link's fingerprint: enough for support to match a link they hold, too few to
#: be worth anything without it (a fingerprint of a secret is not the secret).
FINGERPRINT_CHARS = 12
#: A host shown as written only when it is made of these (a hostile link cannot forge log text).
_SAFE_HOST = re.compile(r"[A-Za-z0-9.\-_:\[\]%]{1,300}")


def link_fingerprint(url: str | httpx.URL, *, ignore_query: bool = False) -> str:
    """The first :data:`FINGERPRINT_CHARS` hex digits of the SHA-256 of the link as given.

    Support matches a link they hold against a log line with
    ``hashlib.sha256(url.encode()).hexdigest()[:12]``. ``ignore_query``: the link without its
    query and fragment, so a re-signed link to the same object gets the same fingerprint.
    """
    text = str(url)
    if ignore_query:
        text = text.split("#", 1)[0].split("?", 1)[0]
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_CHARS]


def redact_url(url: str | httpx.URL, *, ignore_query: bool = False) -> str:
    """``scheme://host[:port]/(redacted:<fingerprint>)``: how every link is shown, anywhere.

    A download link is a bearer secret wherever its secret sits: in the query (a CDN's
    signature), in the path (``/files/<token>.mp4``, the remix API's ``video_url``), or in user
    info (a password). So a log line, an exception, XCom, S3 metadata or lineage shows only the
    scheme, the host and a fingerprint of the whole link (:func:`link_fingerprint`): enough to
    tell links apart and for support to match one, nothing that downloads. A bare origin
    (``https://host`` or ``https://host/``) has nothing to hide and is shown as it is.
    ``ignore_query`` fingerprints the link without its query (see :func:`link_fingerprint`).
    """
    text = str(url)
    fingerprint = link_fingerprint(text, ignore_query=ignore_query)
    try:
        parts = urlsplit(text)
    except ValueError:
        return f"(unparseable URL, redacted:{fingerprint})"
    scheme = parts.scheme.lower() if parts.scheme.isascii() and parts.scheme.isalnum() else ""
    host = parts.netloc.rpartition("@")[2]  # host[:port] as written (even a bad port), no credentials
    if host and not _SAFE_HOST.fullmatch(host):
        host = "(host)"
    if not scheme:
        return f"(redacted:{fingerprint})"
    bare = parts.path in ("", "/") and not parts.query and not parts.fragment and "@" not in parts.netloc
    if bare and host:
        return f"{scheme}://{host}{parts.path}"
    return f"{scheme}://{host}/(redacted:{fingerprint})" if host else f"{scheme}:(redacted:{fingerprint})"


def redact_links(text: str, links: Iterable[str | None]) -> str:
    """``text`` with each of ``links`` (and its path and query on their own) shown as :func:`redact_url`.

    For text that came from elsewhere and may echo a link it was given: a gateway's error
    message naming the clip it failed to extend, say.
    """
    for link in links:
        if not link or len(link) < _MIN_MASKED_QUERY:
            continue
        shown = redact_url(link)
        text = text.replace(link, shown)
        for piece in link_secrets(link):
            if piece != link and piece in text:
                text = text.replace(piece, f"(redacted:{link_fingerprint(link)})")
    return text


def link_secrets(url: str | httpx.URL) -> list[str]:
    """The parts of a link that download it or carry a credential: its path, query and fragment
    (when long enough to be one: ``#access_token=...`` is a common webhook and OAuth shape) and
    the password of its user info (``https://user:pass@host/``), whatever its length."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return [str(url)]
    pieces = [piece for piece in (parts.path, parts.query, parts.fragment) if len(piece) >= _MIN_MASKED_QUERY]
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        pieces += [userinfo, *([userinfo.partition(":")[2]] if ":" in userinfo else [])]
    return [piece for piece in dict.fromkeys(pieces) if piece]


def mask_link(url: str | httpx.URL) -> None:
    """Register a link's path and query with Airflow's secrets masker, so no log line and no
    rendered template shows them whatever prints the link (httpx logs every request's URL);
    a no-op outside an Airflow installation. Only for links, never for the gateway's API URLs."""
    secrets = link_secrets(url)
    if not secrets:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside an Airflow installation
        return
    for secret in secrets:
        mask_secret(secret)


_LINK_IN_TEXT = re.compile(r"https?://[^\s'\"<>\]\[,]+", re.IGNORECASE)
#: Any link a gateway may write in free text: http(s) (a signed download link, a webhook with its
#: token) and data: URIs (an echoed reference image). Greedy, so linear on any input.
_ANY_LINK_IN_TEXT = re.compile(r"(?:https?://|data:)[^\s'\"<>\]\[]+", re.IGNORECASE)
#: Sentence punctuation after a link, kept as text (``... failed for https://cdn/x.mp4.``).
_TRAILING = ".,;:!?)"


def _shown_link(match: re.Match[str]) -> str:
    found = match.group(0)
    link = found.rstrip(_TRAILING)
    return redact_url(link) + found[len(link) :] if link else found


def redact_links_in(text: str) -> str:
    """``text`` with every http(s) link and data: URI in it shown as :func:`redact_url` shows it.

    For free text a gateway writes (a failed task's ``error.message``, an error body): it may
    echo any link it was given or made (a reference, the clip it could not extend, a webhook
    with its token), and we cannot know which; a bare origin stays readable.
    """
    return _ANY_LINK_IN_TEXT.sub(_shown_link, text)


def mask_links_in(*values: Any) -> None:
    """:func:`mask_link` every http(s) link in ``values`` (strings, and lists, tuples and dicts of
    them; a list rendered by Jinja as one string too): what an operator's rendered link fields
    hold before the "Rendered Template" view stores them."""
    for value in values:
        if isinstance(value, str):
            for link in _LINK_IN_TEXT.findall(value):
                mask_link(link)
        elif isinstance(value, (list, tuple)):
            mask_links_in(*value)
        elif isinstance(value, dict):
            mask_links_in(*value.values())
