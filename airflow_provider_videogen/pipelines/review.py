"""A human looks at each clip before its remix is paid for (the example pipeline's ``review`` param).

One ``HITLOperator`` instance per rendered clip (mapped), with Airflow's Required Actions page:
the reviewer sees the clip's poster frame and a link to its player in the Videos tab, the
prompt, what the clip cost and what its remix is estimated to cost, and answers **Remix** or
**Skip**; the optional ``remix_prompt`` field replaces the planned remix prompt (empty keeps it).

Within Airflow 3.3.2's limits:

* the body is markdown and raw HTML is dropped, so the poster is a markdown image and the player
  a markdown link;
* images render only from http(s) URLs, so both are absolute, under the UI's address
  (``[api] base_url``, or the execution API's address when that is not set); the poster is
  served behind the same login, which the reviewer already has;
* a cleared review task keeps its first HITL record (the first answer is used again): to review
  again, trigger a new run;
* ``response_timeout`` (:data:`REVIEW_TIMEOUT`) resolves an unanswered review with its default,
  **Skip** (:data:`DEFAULT_DECISION`): nothing is paid for that nobody approved.

Each decision (remix/skip/timed out), who made it and when go into the manifest.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_videogen.links.view import TASK_ROUTE

REMIX = "Remix"
SKIP = "Skip"
OPTIONS = [REMIX, SKIP]
#: What an unanswered review becomes after :data:`REVIEW_TIMEOUT`.
DEFAULT_DECISION = SKIP
REVIEW_TIMEOUT = timedelta(hours=24)
TIMEOUT_TEXT = f"{REVIEW_TIMEOUT.total_seconds() / 3600:g} h"
#: XCom key of the decisions (``reviewed_clips``); read by the manifest and the Videos view.
REVIEWS_KEY = "reviews"
#: The reviewer's optional replacement for the planned remix prompt.
PROMPT_FIELD = "remix_prompt"


def ui_base_url() -> str:
    """The UI's absolute address (http(s), no trailing slash): markdown images need one."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None) or ""
    if not base:
        execution = conf.get("core", "execution_api_server_url", fallback="") or ""
        parts = urlsplit(execution)
        base = f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix('/').removesuffix('/execution')}"
    return base.rstrip("/")


def review_request(entry: dict[str, Any], *, dag_id: str, run_id: str, base_url: str) -> dict[str, Any]:
    """``subject`` and ``body`` of the review of one :func:`~.manifest.finished_results` clip entry."""
    result, variant = entry["result"], entry["variant"]
    index = entry["index"]
    remix = variant.get("remix") or {}
    remix_estimate = ((variant.get("estimate") or {}).get("remix") or {}).get("credits")
    run = f"{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
    poster = f"{base_url}/videos/poster/{run}/{quote(str(result['id']), safe='')}"
    # the task instance that made the clip: generate_clip[<variant>], or its batch's generate_clip_batch[<j>]
    made_by = f"{quote(str(entry.get('task_id', 'generate_clip')), safe='')}/mapped/{entry.get('map_index', index)}"
    player = f"{base_url}/dags/{run.replace('/', '/runs/', 1)}/tasks/{made_by}/plugin/{TASK_ROUTE}"
    estimate = "not priced" if remix_estimate is None else f"{remix_estimate:g} credits (estimate)"
    body = "\n".join(
        [
            f"![clip {index}]({poster})",
            "",
            f"[Play clip {index} in the Videos tab]({player})",
            "",
            f"**Prompt:** {_md(variant.get('prompt'))}",
            "",
            f"**Clip:** {result.get('model')}, {result.get('credits_reserved')} credits reserved, remote task "
            f"`{result['id']}`",
            "",
            f"**Remix if approved:** {remix.get('model')}, {estimate}",
            "",
            f"**Planned remix prompt:** {_md(remix.get('prompt'))}",
            "",
            f"**Planned extension prompt:** {_md(remix.get('prompt_extend'))}",
            "",
            f"Answer **{REMIX}** to pay for the 15 s remix, **{SKIP}** to stop here. Unanswered after "
            f"{TIMEOUT_TEXT}: **{DEFAULT_DECISION}**. Fill `{PROMPT_FIELD}` to replace the remix prompt.",
        ]
    )
    return {"subject": f"Remix clip {index}? ({estimate})", "body": body}


def decide(entry: dict[str, Any], answer: dict[str, Any] | None) -> dict[str, Any]:
    """The entry with its ``review`` (decision, by, at) and, when edited, the new remix prompt.

    :param answer: the review task's result (``chosen_options``, ``params_input``,
        ``responded_by_user``, ``responded_at``); ``None`` when the review task did not finish.
    """
    if answer is None:
        return {
            **entry,
            "review": {"decision": "declined", "by": None, "at": None, "reason": "the review task did not finish"},
        }
    chosen = answer.get("chosen_options") or []
    user = answer.get("responded_by_user") or {}
    review: dict[str, Any] = {
        "decision": "approved" if REMIX in chosen else "declined",
        "by": user.get("name") or user.get("id") if isinstance(user, dict) else None,
        "at": str(answer.get("responded_at")) if answer.get("responded_at") else None,
        "reason": None if user else f"no answer within {TIMEOUT_TEXT}: {DEFAULT_DECISION}",
    }
    edited = str((answer.get("params_input") or {}).get(PROMPT_FIELD) or "").strip()
    variant = entry["variant"]
    if edited and review["decision"] == "approved":
        review["remix_prompt_edited"] = True
        variant = {**variant, "remix": {**(variant.get("remix") or {}), "prompt": edited}}
    return {**entry, "variant": variant, "review": review}


def _md(text: Any) -> str:
    """User text in a markdown line: no raw HTML (dropped anyway) and no accidental markup."""
    return str(text or "-").replace("<", "&lt;").replace("\n", " ").replace("*", "\\*").replace("_", "\\_")
