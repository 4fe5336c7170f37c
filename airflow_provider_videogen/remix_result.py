"""What a remix adds to a result, and what a remix whose extension failed becomes.

A 15 s remix renders an 8 s clip, then extends it by 7 s. When only the extension fails
(``extend_failed``), the first clip exists and was paid for: it is never lost. With
``on_extend_failure="fail"`` (the default) the task fails after pushing the clip and the ids to
continue from to XCom; with ``"accept_first_segment"`` the clip becomes the result. The remix
operator and the sensor (which may follow a remix) both apply this policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.clock import utcnow
from airflow_provider_videogen.exceptions import VideoTaskFailedError
from airflow_provider_videogen.hooks.redaction import redact_links, redact_url
from airflow_provider_videogen.models import REMIX_SEGMENT_SECONDS, TaskState, VideoTask

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Context

ExtendFailurePolicy = Literal["fail", "accept_first_segment"]
EXTEND_FAILURE_POLICIES: tuple[str, ...] = ("fail", "accept_first_segment")

#: XCom keys pushed when a remix extension fails, before the task fails, so the paid-for 8 s
#: clip and the id to continue it from are never lost (``on_extend_failure="fail"``).
FIRST_SEGMENT_URL_KEY = "first_segment_url"
REMIX_ID_KEY = "remix_id"
REMIX_ID_EXTEND_KEY = "remix_id_extend"
#: The whole result the task would have returned with ``on_extend_failure="accept_first_segment"``.
PARTIAL_RESULT_KEY = "partial_result"


def check_extend_failure_policy(policy: str) -> None:
    if policy not in EXTEND_FAILURE_POLICIES:
        raise ValueError(
            f"on_extend_failure={policy!r}; allowed: {', '.join(repr(p) for p in EXTEND_FAILURE_POLICIES)}"
        )


def remix_result_extras(task: VideoTask) -> dict[str, Any]:
    """What a remix result holds beyond every video result: both segments and their upstream ids."""
    return {
        "first_video_url": task.first_video_url,
        "remix_id": task.remix_id,
        "remix_id_extend": task.remix_id_extend,
        "partial": task.is_partial,
    }


def settle_partial_remix(
    context: Context,
    task: VideoTask,
    *,
    policy: ExtendFailurePolicy,
    retryable: bool,
    result_of: Callable[[VideoTask], dict[str, Any]],
    log: Any,
    xcom_links: bool = True,
) -> dict[str, Any]:
    """Return the first clip as the result (``accept_first_segment``) or keep it in XCom and fail.

    ``result_of`` builds the XCom result of a finished task (and pushes its video link when
    ``xcom_links``). With ``xcom_links=False`` the clip's link (a bearer URL) goes nowhere: not to
    XCom ``first_segment_url``, not into the error (which also becomes OpenLineage's
    ``errorMessage``); the remote id and ``remix_id`` say where to read it again.
    """
    clip = task.video_urls[0]
    first, extension = REMIX_SEGMENT_SECONDS
    # A gateway may name the clip in its message: the message goes to the log, the error and lineage.
    links = [*task.video_urls, task.first_video_url]
    reason = redact_links(task.error_message or "", links) or None
    # The 8 s clip is the remix's whole output: present it as a finished task so downstream
    # tasks (archiving, chaining) read it like any result, flagged by ``partial``.
    accepted = task.model_copy(
        update={
            "state": TaskState.SUCCEEDED,
            "first_video_url": task.first_video_url or clip,
            "completed_at": task.completed_at or utcnow(),
        }
    )
    result = result_of(accepted)
    result["error_code"] = task.error_code
    result["error_message"] = reason
    if policy == "accept_first_segment":
        log.warning(
            "Remote task %s: the %d s extension failed (%s); accepting the first %d s as the result "
            "(on_extend_failure='accept_first_segment'): %s",
            task.id,
            extension,
            reason or task.error_code,
            first,
            redact_url(clip),
        )
        return result
    ti = context["ti"]
    if xcom_links:
        ti.xcom_push(key=FIRST_SEGMENT_URL_KEY, value=clip)
        where = f"{redact_url(clip)} (remix_id {task.remix_id}; XCom keys '{FIRST_SEGMENT_URL_KEY}', "
    else:
        where = (
            f"read the link from the gateway by remote task id {task.id} (xcom_links=False keeps it out of XCom "
            f"and logs; remix_id {task.remix_id}; XCom keys "
        )
    ti.xcom_push(key=REMIX_ID_KEY, value=task.remix_id)
    ti.xcom_push(key=REMIX_ID_EXTEND_KEY, value=task.remix_id_extend)
    ti.xcom_push(key=PARTIAL_RESULT_KEY, value=result)
    message = (
        f"{reason or 'the extension failed'}. The first {first} s rendered and are kept: "
        f"{where}'{REMIX_ID_KEY}', '{PARTIAL_RESULT_KEY}'). "
        "Set on_extend_failure='accept_first_segment' to succeed with it"
    )
    error = VideoTaskFailedError(task.id, task.error_code, message, retryable=retryable)
    if not retryable:
        raise AirflowFailException(str(error))
    raise error
