"""Decide from a body's first bytes whether a download is a video.

Why sniff and not trust ``Content-Type``: an expired or mis-routed CDN link often answers
``200 OK`` with an HTML login page or a JSON error, sometimes labelled ``video/mp4`` by a proxy
that derives the type from the file extension. Archiving that page would hide the loss of the
video until someone tries to play it. The bytes decide first; the header only vouches for
formats this module cannot recognise.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

#: Bytes to collect before judging; an ISO-BMFF ``ftyp`` box header needs 8, a brand 12.
SNIFF_BYTES = 16

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska / WebM
_TEXT_STARTS = (b"<", b"{", b"[")
_TOKENISH = re.compile(rb"[A-Za-z0-9+/=_\-]{20,}")


@dataclass(frozen=True)
class Sniff:
    """The verdict on a body's first bytes.

    :param content_type: the type to store the object with, or ``None`` if it is not a video.
    :param what: a short human description of what the body looks like, for error messages.
    """

    content_type: str | None
    what: str

    @property
    def is_video(self) -> bool:
        return self.content_type is not None


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _is_iso_bmff(head: bytes) -> bool:
    """An MP4/MOV/3GP file starts with an ``ftyp`` box: 4-byte size (>= 8, or 1 for 64-bit), b"ftyp"."""
    if len(head) < 8 or head[4:8] != b"ftyp":
        return False
    (size,) = struct.unpack(">I", head[:4])
    return size == 1 or size >= 8


def _text_kind(head: bytes) -> str | None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # BOM and whitespace
    if not stripped.startswith(_TEXT_STARTS):
        return None
    lowered = stripped[:16].lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page"
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<error"):
        return "an XML document (typically a storage error such as AccessDenied or Request has expired)"
    if stripped.startswith((b"{", b"[")):
        return "a JSON document (typically an API error)"
    return "a markup document"


def sniff(head: bytes, content_type: str | None) -> Sniff:
    """Judge a body from its first :data:`SNIFF_BYTES` bytes and its ``Content-Type`` header.

    Order: an empty body and recognisable text (HTML, XML, JSON) are refused whatever the
    header says; an ``ftyp`` box is MP4 (stored as the header's ``video/*`` type if it has one,
    else ``video/mp4``); EBML magic is WebM; anything else is accepted only when the header
    says ``video/*``.
    """
    media = _media_type(content_type)
    header_is_video = media.startswith("video/")
    if not head:
        return Sniff(None, f"an empty body (Content-Type {media or 'missing'})")
    text = _text_kind(head)
    if text is not None:
        return Sniff(None, f"{text} (Content-Type {media or 'missing'})")
    if _is_iso_bmff(head):
        return Sniff(media if header_is_video else "video/mp4", "an MP4 video")
    if head.startswith(_EBML_MAGIC):
        return Sniff(media if header_is_video else "video/webm", "a WebM/Matroska video")
    if header_is_video:
        return Sniff(media, f"an unrecognised body labelled {media}")
    return Sniff(None, f"unrecognised data without an MP4 header (Content-Type {media or 'missing'})")


def describe_bytes(head: bytes, limit: int = 60) -> str:
    """A printable excerpt of a body's start for an error message, with token-like runs masked."""
    masked = _TOKENISH.sub(b"***", head[:limit])
    text = masked.decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()
