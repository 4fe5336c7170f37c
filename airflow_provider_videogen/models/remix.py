"""The request of the 15 s remix API (``POST /v1/videos``, multipart) and its input references.

A remix is 8 s from ``prompt`` plus a 7 s extension from ``prompt_extend``, optionally steered
by up to three reference images (or, for ``-fl`` models, a first and last frame). References
come as files, URLs or data URIs; each is checked for format and size when it is built, so a
bad image fails before any request and before anything is billed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from airflow_provider_videogen.hooks.redaction import redact_url
from airflow_provider_videogen.models.catalogue import (
    IMAGE_EXTENSIONS,
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    REMIX_FL_MAX_IMAGES,
    REMIX_MAX_REFERENCES,
    REMIX_MODELS,
    REMIX_SIZES,
    is_first_last_remix_model,
    is_remix_model,
)
from airflow_provider_videogen.models.validation import (
    FieldLimitError,
    allowed_values,
    check_image_url,
    sniff_image_type,
)

_SIZE_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_DATA_URI_RE = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]+)*?)(?P<b64>;base64)?,", re.I)


class RemixReference(BaseModel):
    """One ``input_reference[]`` part: a file (sent as a file part), a URL or a data URI (sent as text).

    File content is held as bytes because it is sent in one multipart body anyway and is at most
    10 MB. Building one checks format and size, so a bad reference fails before any request.
    """

    # A URL may be presigned and a data URI is the image itself: pydantic's error text and the repr
    # leave the value out (as GenerationRequest does for its links); our own errors redact it.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    kind: Literal["file", "url", "data_uri"]
    value: str = Field(description="URL, data URI, or the file name for a file part", repr=False)
    content: bytes | None = Field(default=None, repr=False)
    content_type: str | None = None

    @model_validator(mode="after")
    def _check(self) -> RemixReference:
        if self.kind == "file":
            data = self.content or b""
            if not data:
                raise ValueError(f"input_reference {self.value!r} is empty")
            if len(data) > MAX_IMAGE_BYTES:
                raise ValueError(
                    f"input_reference {self.value!r} is {len(data) / 1_048_576:.1f} MB; "
                    f"at most {MAX_IMAGE_BYTES // 1_048_576} MB per image"
                )
            sniffed = sniff_image_type(data)
            if sniffed is None:
                raise ValueError(
                    f"input_reference {self.value!r} is not a JPEG, PNG or WEBP image "
                    f"(allowed formats: {', '.join(IMAGE_EXTENSIONS)})"
                )
            if self.content_type is None:
                object.__setattr__(self, "content_type", sniffed)
        elif self.kind == "url":
            check_image_url(self.value, "input_reference")
        else:
            _check_data_uri(self.value)
        return self

    @classmethod
    def from_bytes(cls, data: bytes, filename: str = "reference") -> RemixReference:
        sniffed = sniff_image_type(data)
        if sniffed and "." not in filename:
            filename = f"{filename}.{sniffed.split('/')[1].replace('jpeg', 'jpg')}"
        return cls(kind="file", value=filename, content=data, content_type=sniffed)

    @classmethod
    def from_text(cls, text: str) -> RemixReference:
        """A URL or a data URI given as a string."""
        if text.lower().startswith("data:"):
            return cls(kind="data_uri", value=text)
        return cls(kind="url", value=text)

    @field_serializer("content", when_used="json")
    def _content_digest(self, content: bytes | None) -> str | None:
        """JSON dumps (the re-attach fingerprint, logs) name a file by its digest, never its bytes."""
        return None if content is None else "sha256:" + hashlib.sha256(content).hexdigest()

    def describe(self) -> str:
        """Short description for logs: never the bytes or a whole data URI."""
        if self.kind == "file":
            return f"file {self.value} ({len(self.content or b'')} bytes, {self.content_type})"
        if self.kind == "data_uri":
            return f"data URI ({len(self.value)} chars, {self.value[5 : self.value.find(';')]})"
        return f"URL {redact_url(self.value)}"  # a signed link's query (X-Amz-Signature...) stays out


def _check_data_uri(uri: str) -> None:
    match = _DATA_URI_RE.match(uri)
    if not match or not match.group("b64"):
        raise ValueError("input_reference data URI must look like 'data:image/png;base64,<data>'")
    mime = (match.group("mime") or "").lower()
    if mime not in IMAGE_MIME_TYPES and mime != "image/jpg":
        raise ValueError(
            f"input_reference data URI has type {mime or 'none'!r}; allowed: {', '.join(IMAGE_MIME_TYPES)}"
        )
    payload = uri[match.end() :]
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES + 3:
        raise ValueError(
            f"input_reference data URI holds about {len(payload) * 3 // 4 / 1_048_576:.1f} MB; "
            f"at most {MAX_IMAGE_BYTES // 1_048_576} MB per image"
        )
    try:
        head = base64.b64decode(payload[:64] + "=" * (-len(payload[:64]) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("input_reference data URI is not valid base64") from None
    if sniff_image_type(head) is None:
        raise ValueError(f"input_reference data URI says {mime} but its bytes are not a JPEG, PNG or WEBP image")


class RemixRequest(BaseModel):
    """Form fields of ``POST /v1/videos`` (15 s remix: 8 s from ``prompt`` + 7 s from ``prompt_extend``)."""

    # References may be presigned links or data URIs: hidden from pydantic's error text (which echoes
    # the whole input); InvalidRequestError shows them redacted (validation.LINK_FIELDS).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    model: str = Field(min_length=1)
    prompt: str
    prompt_extend: str
    size: str | None = None
    input_references: list[RemixReference] = Field(default_factory=list)

    @field_validator("prompt", "prompt_extend")
    @classmethod
    def _not_blank(cls, value: str, info: Any) -> str:
        if not value.strip():
            what = "the first 8 s" if info.field_name == "prompt" else "the last 7 s"
            raise ValueError(f"{info.field_name} is empty; it describes {what} of the 15 s video")
        return value

    @field_validator("size")
    @classmethod
    def _size_format(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _SIZE_RE.match(value):
            raise ValueError(
                f"size={value!r} is not WIDTHxHEIGHT (a lower-case x, e.g. '1280x720'); "
                f"allowed: {allowed_values(REMIX_SIZES)}"
            )
        if value not in REMIX_SIZES:
            raise ValueError(f"size={value!r} is not offered; allowed: {allowed_values(REMIX_SIZES)}")
        return value

    @model_validator(mode="after")
    def _references(self) -> RemixRequest:
        if not is_remix_model(self.model):
            raise FieldLimitError(
                "model",
                f"model={self.model!r} is not a 15 s remix model; use one of {', '.join(REMIX_MODELS)} "
                "(or an 8 s model name with the '-remix' suffix)",
            )
        count = len(self.input_references)
        if is_first_last_remix_model(self.model):
            if not 1 <= count <= REMIX_FL_MAX_IMAGES:
                raise FieldLimitError(
                    "input_references",
                    f"input_references has {count} image(s); {self.model} is a first/last-frame model and takes "
                    f"1 to {REMIX_FL_MAX_IMAGES} (first frame, then last frame)",
                )
        elif count > REMIX_MAX_REFERENCES:
            raise FieldLimitError(
                "input_references",
                f"input_references has {count} images; {self.model} takes at most {REMIX_MAX_REFERENCES} "
                "reference images",
            )
        return self

    def form_fields(self) -> list[tuple[str, str]]:
        """Text fields of the multipart body, in order (:meth:`multipart_parts` adds the references)."""
        fields = [("model", self.model), ("prompt", self.prompt), ("prompt_extend", self.prompt_extend)]
        if self.size:
            fields.append(("size", self.size))
        return fields

    def multipart_parts(self) -> list[tuple[str, tuple[str | None, bytes | str, str | None]]]:
        """All fields as multipart parts, in order; text values are parts without a file name.

        Putting text fields in ``files`` (with no file name) keeps ``input_reference[]`` parts
        in the user's order even when files, URLs and data URIs are mixed: order is meaning
        here (first frame, then last frame).
        """
        parts: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            (name, (None, value, None)) for name, value in self.form_fields()
        ]
        for ref in self.input_references:
            if ref.kind == "file":
                parts.append(("input_reference[]", (ref.value, ref.content or b"", ref.content_type)))
            else:
                parts.append(("input_reference[]", (None, ref.value, None)))
        return parts
