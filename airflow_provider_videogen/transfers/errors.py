"""Archive failures, one class per thing the user does differently about them.

They subclass the provider's :class:`~airflow_provider_videogen.exceptions.VideoGenError` so
``except VideoGenError`` still catches everything this package raises. Messages name the remote
task and the S3 key, never a URL's query string (signed CDN links carry their signature there),
and end with what to do.
"""

from __future__ import annotations

from airflow_provider_videogen.exceptions import VideoGenError


class VideoArchiveError(VideoGenError):
    """Base class of every archive failure.

    Nothing new is left at the target key when it is raised, with one exception: the upload
    completed but the ``CopyObject`` that stores its SHA-256 failed (an :class:`ObjectConflictError`
    whose message says so). The key then holds the complete video, and a rerun of the same task
    instance finishes it.
    """


class LinkExpiredError(VideoArchiveError):
    """The download link is past its 24 h lifetime, or the CDN refuses it (403/404/410).

    Retrying does not help: the video has to be generated again (and paid again), or archived
    sooner next time (schedule the archive task right after generation).
    """


class NotAVideoError(VideoArchiveError):
    """The link answered with something that is not a video: an HTML page, a JSON error, ...

    Typically a login or error page served with status 200 by a CDN or proxy.
    """


class TruncatedDownloadError(VideoArchiveError):
    """The server kept delivering fewer bytes than its ``Content-Length`` promised."""


class VideoTooLargeError(VideoArchiveError):
    """The video is larger than ``max_bytes``; the limit protects the worker and the bucket."""


class ObjectConflictError(VideoArchiveError):
    """The key already holds a different object and ``replace`` is False.

    The archive never silently overwrites: either the key template collides across runs, or the
    object was changed by someone else. Set ``replace=True`` to overwrite on purpose.
    """


class DownloadFailedError(VideoArchiveError):
    """The download kept failing (server errors, dropped connections) after the allowed resumes."""
