"""Settings of the gateway simulator: timing, link lifetime, response shape and injected faults.

One immutable :class:`SimulatorConfig` is active at a time. Changing settings at runtime
(``SimulatorServer.configure``, ``POST /_sim/config``) builds and validates a new object and
swaps it in, so a request handled concurrently sees either the old settings or the new ones,
never half of each, and a misspelt setting fails loudly instead of being ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The key accepted when no ``api_keys`` are configured. Not a secret: it only unlocks the simulator.
DEFAULT_API_KEY = "sim-key"

#: Special API keys (always accepted when ``special_keys`` is on), one per account problem the
#: gateway reports, so a client's handling of each can be tested without configuring anything.
#:
#: ``sim-no-credits``: an account without balance. Every create is refused the way each API says
#: it: ``402 insufficient_credits`` on ``POST /v1/videos/generations``, ``403
#: insufficient_user_quota`` on ``POST /v1/videos``. Queries and chat work.
NO_CREDITS_API_KEY = "sim-no-credits"
#: ``sim-no-access``: a key without permission: ``403 access_denied`` on every ``/v1`` route.
NO_ACCESS_API_KEY = "sim-no-access"
SPECIAL_API_KEYS: tuple[str, ...] = (NO_CREDITS_API_KEY, NO_ACCESS_API_KEY)

RemixShape = Literal["wrapper", "openai", "envelope"]
#: How ``progress`` moves while a task renders (see ``SimulatorConfig.progress_mode``).
ProgressMode = Literal["linear", "zero", "steps"]
MalformedKind = Literal["html", "html_502", "truncated"]


class ResponseFault(BaseModel):
    """One queued answer for the next matching request (``next_responses``).

    A fault answers *instead of* the simulator, before authentication and before a task is
    created, like a proxy or rate limiter in front of a real gateway. Two exceptions:
    ``after_create`` (on a create route the task IS created and only the answer is replaced,
    which is how a client that retries a create gets caught paying twice) and ``malformed``
    (the request is handled normally and its answer is mangled on the way out).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int = Field(default=503, ge=100, le=599)
    #: ``Retry-After`` header in seconds (written as an integer when it is one).
    retry_after: float | None = Field(default=None, ge=0)
    #: Only requests with this method match (``None``: any method).
    method: str | None = None
    #: Only requests whose path starts with this prefix match.
    path: str = "/v1/"
    #: How many matching requests this entry answers before it is used up.
    times: int = Field(default=1, ge=1)
    #: Mangle the real answer instead of replacing it (``status`` is then ignored).
    malformed: MalformedKind | None = None
    #: Extra seconds to wait before answering.
    delay: float = Field(default=0.0, ge=0)
    #: On create routes: create the task, then answer with ``status`` anyway.
    after_create: bool = False
    #: Error ``code``/``message`` in the body (defaults depend on ``status``).
    code: str | None = None
    message: str | None = None
    #: Raw body (sent as ``application/json``) instead of the error body: a hostile or broken
    #: gateway's answer, e.g. with overflowing numbers or an echoed header.
    body: str | None = None
    #: JSON whitespace sent before ``body`` (or the error body), streamed without a
    #: ``Content-Length``: an answer of any size that is still valid JSON.
    pad_bytes: int = Field(default=0, ge=0)
    #: Send the body one byte at a time, waiting this many seconds before each byte.
    trickle_seconds: float = Field(default=0.0, ge=0)
    #: ``Location`` header (for 3xx answers).
    location: str | None = None

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method.upper()) and path.startswith(self.path)


class SimulatorConfig(BaseModel):
    """Every setting of the simulator; all can be changed at runtime (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ---- access ----------------------------------------------------------------------------
    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_API_KEY], min_length=1)
    #: Accept :data:`SPECIAL_API_KEYS` with their documented behaviour.
    special_keys: bool = True

    # ---- timing ----------------------------------------------------------------------------
    #: Seconds a task takes from create to completion, before ``time_scale``.
    render_seconds: float = Field(default=6.0, ge=0)
    #: Multiplies ``render_seconds`` (0.1 = ten times faster). Fixed per task at creation.
    #: Does not apply to ``[sim:render=N]``, ``link_ttl_seconds`` or ``slow_seconds``.
    time_scale: float = Field(default=1.0, ge=0)
    #: Each task's real render time is drawn uniformly within +-this share of the configured one
    #: (``render_seconds * time_scale``; seeded by ``seed``), while its ``estimated_time`` stays at
    #: the configured one: renders scatter around their estimate, as real ones do.
    render_scatter: float = Field(default=0.0, ge=0, lt=1)
    #: ``estimated_time`` = configured render time x this, rounded up: 3 makes every render 3x
    #: faster than the gateway says, 1/3 three times slower. ``[sim:estimate=N]`` overrides it.
    estimate_factor: float = Field(default=1.0, gt=0)
    #: Share of the render time a task spends ``pending``/``queued`` before ``processing``.
    pending_fraction: float = Field(default=0.1, ge=0, le=1)
    #: Download links stop working this many seconds after the task finished (not scaled).
    link_ttl_seconds: float = Field(default=86400.0, ge=0)
    #: How ``progress`` moves while processing, fixed per task at creation: ``linear`` (with the
    #: clock), ``zero`` (0 until the task is done, as gateways that report no progress do) or
    #: ``steps`` (jumps in ``progress_steps`` equal steps: 0, 25, 50, 75 with 4). A client's
    #: polling must not depend on progress being linear.
    progress_mode: ProgressMode = "linear"
    progress_steps: int = Field(default=4, ge=2, le=20)

    # ---- responses -------------------------------------------------------------------------
    #: Shape of the remix create/query answer: the seed-003 task wrapper, the OpenAI-style video
    #: object of the open-source gateway, or the wrapper inside a ``{code, message, data}`` envelope.
    remix_shape: RemixShape = "wrapper"
    #: ``False``: a completed remix lists no video URL (no ``video_url``, ``first_video_url``,
    #: ``result_url``), as OpenAI's own ``/v1/videos`` answers: the bytes are only at
    #: ``GET /v1/videos/{id}/content``.
    remix_links: bool = True
    #: Frames per second of the rendered test videos.
    media_fps: int = Field(default=10, ge=1, le=60)
    #: Cap on the length of rendered videos in seconds (``None``: the real 4-15 s).
    media_max_seconds: float | None = Field(default=None, gt=0)

    #: Headers added to every successful status answer (``GET`` of a task): a gateway's poll
    #: hints, e.g. ``{"openai-poll-after-ms": "3000"}`` or ``{"Retry-After": "5"}``; any value,
    #: a lying one included.
    status_headers: dict[str, str] = Field(default_factory=dict)

    # ---- faults ----------------------------------------------------------------------------
    #: Seed of the random number generator behind the ``rate_*`` faults.
    seed: int = 0
    #: Probability (0-1) that a ``/v1`` request is answered with this status instead.
    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_500: float = Field(default=0.0, ge=0, le=1)
    rate_502: float = Field(default=0.0, ge=0, le=1)
    rate_503: float = Field(default=0.0, ge=0, le=1)
    #: ``Retry-After`` seconds sent with random 429 and 503 answers (``None``: no header).
    retry_after_seconds: float | None = Field(default=1.0, ge=0)
    #: Seconds to wait before answering every ``/v1`` request.
    slow_seconds: float = Field(default=0.0, ge=0)
    #: Answer every ``GET`` on ``/v1`` with this status (a persistent outage of the query route).
    get_status: int | None = Field(default=None, ge=100, le=599)
    #: Mangle every ``/v1`` answer: an HTML page with 200 or 502, or JSON cut in half.
    malformed: MalformedKind | None = None
    #: A task created from a prompt that contains one of these texts fails with the mapped error
    #: code, as if the prompt carried ``[sim:fail=<code>]``: fails one variant of a generated
    #: plan whose prompts a test cannot edit.
    fail_prompts_containing: dict[str, str] = Field(default_factory=dict)
    #: A lying gateway: every unified-API task created from now on reports this as its
    #: ``usage.credits_reserved`` (a negative figure, ``1e30``...) instead of its price.
    reported_credits: float | None = Field(default=None, allow_inf_nan=False)
    #: Answers for the next matching requests, used up in order (see :class:`ResponseFault`).
    next_responses: list[ResponseFault] = Field(default_factory=list)
    #: Drop the connection after this many body bytes of a video download...
    drop_download_after_bytes: int | None = Field(default=None, ge=0)
    #: ...for this many downloads (counted from when the setting was made).
    drop_download_times: int = Field(default=1, ge=0)

    def render_time(self) -> float:
        """Wall seconds a new task takes to finish under the current settings."""
        return self.render_seconds * self.time_scale

    def public_dump(self) -> dict[str, object]:
        """Settings as JSON, without the API keys (the simulator never echoes a key)."""
        data = self.model_dump(mode="json", exclude={"api_keys"})
        data["api_key_count"] = len(self.api_keys)
        return data
