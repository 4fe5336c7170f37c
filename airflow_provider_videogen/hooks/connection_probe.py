"""The connection Test button: what one harmless query can and cannot prove about a connection.

Also a command for when the button and ``airflow connections test`` are switched off::

    python -m airflow_provider_videogen.hooks.connection_probe videogen_default
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from airflow_provider_videogen.exceptions import NotFoundError, VideoGenError, VideoGenHTTPError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_videogen.hooks.videogen import VideoGenHook


def probe_connection(hook: VideoGenHook, probe_path: str) -> tuple[bool, str]:
    """Check the base URL and the key without creating (or paying for) anything; say what was checked.

    It queries a task id that cannot exist. Only "not found" (404) proves both that the
    gateway answered and that it accepted the key (it authenticates before it looks the task
    up); 401/403 proves the key is refused. Any other answer (400 included) proves that
    something answered, not that the key works, and is reported as a failure.
    """
    not_checked = "Not checked: the key's access to each model, and the account's credits."
    try:
        settings = hook.settings
        hook._request("GET", probe_path)
    except NotFoundError as exc:
        if exc.api_code is None:  # a web server's own 404 page, not the gateway's answer
            return False, (
                f"{settings.base_url} answered 404 without the gateway's error body: the base URL may point "
                f"to another server, and the API key could not be verified: {exc}"
            )
        return True, (
            f"Connected to {settings.base_url}: a query for a made-up task id was authenticated and answered "
            f"'not found', so the API key was accepted. Nothing was created. {not_checked}"
        )
    except VideoGenHTTPError as exc:
        if exc.status in (401, 403):
            return False, f"The gateway refused the API key: {exc}"
        return False, (
            f"Something answered at the base URL, but with HTTP {exc.status} instead of 'not found' for a "
            f"made-up task id, so the API key could not be verified: {exc}"
        )
    except VideoGenError as exc:
        return False, str(exc)
    return False, (
        f"{settings.base_url} answered a query for a task id that cannot exist as if it existed: this does "
        "not look like the video gateway, and the API key could not be verified."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m airflow_provider_videogen.hooks.connection_probe [conn_id]``: the Test button, from a shell.

    ``airflow connections test`` is switched off by the same ``[core] test_connection`` setting as
    the UI's button, and on success prints only "Connection success!". This runs the same probe
    with the caller's own network access (so it needs no setting) and prints what was checked and
    what was not. Exit status 0 when the key was accepted, 1 otherwise.
    """
    from airflow_provider_videogen.hooks.videogen import VideoGenHook

    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_videogen.hooks.connection_probe",
        description="Check a videogen connection's URL and key without creating anything, and say what was "
        "not checked (works whatever [core] test_connection says).",
    )
    parser.add_argument("conn_id", nargs="?", default=VideoGenHook.default_conn_name)
    args = parser.parse_args(argv)
    ok, message = VideoGenHook(args.conn_id).test_connection()
    print(f"{args.conn_id}: {'OK' if ok else 'FAILED'}: {message}")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover - tested through main()
    sys.exit(main())
