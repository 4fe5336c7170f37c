"""Typed requests and responses of the video gateway, and every documented limit.

This package is the single source of truth for the API contract (``shared/seeds`` and the API
notes): operators, the hook, the simulator and the example DAGs all read their limits from
here, so a limit changes in exactly one place. Requests are validated when they are built,
which is before any HTTP request is sent: a user who breaks a limit pays nothing and gets a
message naming the field, the value and what is allowed. Responses are parsed tolerantly,
because a parser that breaks on a new field would strand a video the user already paid for.

One module per concept; import from here, the modules are an implementation detail:

* :mod:`.catalogue` -- which models exist and what each accepts (``MODEL_SPECS``, remix models, limits);
* :mod:`.validation` -- how a broken limit is reported; URL and image rules both requests share;
* :mod:`.generation` -- :class:`GenerationRequest` (unified API);
* :mod:`.remix` -- :class:`RemixRequest` and :class:`RemixReference` (15 s remix API);
* :mod:`.task` -- :class:`TaskState` and :class:`VideoTask`, parsed from either API's answers;
* :mod:`.errors` -- :class:`ApiError` bodies and which task error codes are worth a retry.
"""

from __future__ import annotations

from airflow_provider_videogen.models.catalogue import (
    CALLBACK_URL_MAX_LENGTH,
    DEFAULT_PROMPT_MAX_CHARS,
    IMAGE_EXTENSIONS,
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    MODEL_SPECS,
    N_RANGE,
    OPTIONAL_FEATURES,
    REMIX_EXTENSION_PROGRESS,
    REMIX_FL_MAX_IMAGES,
    REMIX_MAX_REFERENCES,
    REMIX_MODELS,
    REMIX_SEGMENT_SECONDS,
    REMIX_SIZES,
    SEED_RANGE,
    GenerationType,
    ModelSpec,
    ReferenceMode,
    estimate_tokens,
    is_first_last_remix_model,
    is_remix_model,
)
from airflow_provider_videogen.models.errors import (
    NON_RETRYABLE_TASK_ERRORS,
    TRANSIENT_TASK_ERRORS,
    ApiError,
    is_retryable_task_error,
)
from airflow_provider_videogen.models.generation import GenerationRequest
from airflow_provider_videogen.models.remix import RemixReference, RemixRequest
from airflow_provider_videogen.models.task import (
    GENERATION_TASK_ID_PREFIX,
    LINK_TTL,
    ApiKind,
    TaskState,
    VideoTask,
    parse_progress,
    parse_status,
)
from airflow_provider_videogen.models.validation import (
    FieldLimitError,
    explain_validation_error,
    sniff_image_type,
    validate_callback_url,
)

__all__ = [
    "CALLBACK_URL_MAX_LENGTH",
    "DEFAULT_PROMPT_MAX_CHARS",
    "GENERATION_TASK_ID_PREFIX",
    "IMAGE_EXTENSIONS",
    "IMAGE_MIME_TYPES",
    "LINK_TTL",
    "MAX_IMAGE_BYTES",
    "MODEL_SPECS",
    "NON_RETRYABLE_TASK_ERRORS",
    "N_RANGE",
    "OPTIONAL_FEATURES",
    "REMIX_EXTENSION_PROGRESS",
    "REMIX_FL_MAX_IMAGES",
    "REMIX_MAX_REFERENCES",
    "REMIX_MODELS",
    "REMIX_SEGMENT_SECONDS",
    "REMIX_SIZES",
    "SEED_RANGE",
    "TRANSIENT_TASK_ERRORS",
    "ApiError",
    "ApiKind",
    "FieldLimitError",
    "GenerationRequest",
    "GenerationType",
    "ModelSpec",
    "ReferenceMode",
    "RemixReference",
    "RemixRequest",
    "TaskState",
    "VideoTask",
    "estimate_tokens",
    "explain_validation_error",
    "is_first_last_remix_model",
    "is_remix_model",
    "is_retryable_task_error",
    "parse_progress",
    "parse_status",
    "sniff_image_type",
    "validate_callback_url",
]
