"""What the TaskFlow decorators share: the function's result is the request, built once per task instance.

A ``@task.videogen`` function may be slow, random or paid (an LLM writing the prompt). Its result
is what the video operator submits and fingerprints (:mod:`..operators.reattach`), so a retry or
a clear must see the *same* request, or the re-attach rule would read "a different request" and
pay for a second video. The first try that gets a valid request from the function therefore
stores it in the task instance's state store (``videogen_taskflow_request``), next to the
operator's own submission record, and every later try of that task instance builds the request
from the stored copy **without calling the function again**.

The stored copy is keyed by a digest of what the function was given (its rendered arguments,
the decorator's request arguments and the function's source): when one of them changed (the DAG
was edited, or an upstream task produced something else, then the task was cleared) the function
runs again and its new request is fingerprinted as a new one, exactly as an edited operator is.

The stored copy is sealed (encrypted and authenticated with a key derived from the connection's
API key, :class:`StoredRequest`): the task state store is readable and writable through Airflow's
REST API, and a request may hold signed links or images. A copy that cannot be unsealed (edited,
or the API key rotated) is refused once a try has submitted a remote task, and otherwise ignored.

Limits of the rule, documented for users: without a task state store (``durable=False``) every
try calls the function; a function that raised, or returned an invalid request, stored nothing,
so the next try calls it again.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
from typing import TYPE_CHECKING, Any

from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION
from airflow.sdk.definitions.context import context_merge
from airflow.sdk.exceptions import AirflowFailException
from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict

from airflow_provider_videogen.exceptions import InvalidRequestError
from airflow_provider_videogen.operators.reattach import RECORD_RETENTION, load_model, stored_record, where_to_delete

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.sdk import Context

#: Task state store key of the request the function built. Renaming it breaks retries in flight.
REQUEST_KEY = "videogen_taskflow_request"


class StoredRequest(BaseModel):
    """The operator fields the function's result set, sealed, and what the function was given.

    ``sealed`` is the fields' JSON encrypted and authenticated (Fernet) with a key derived from the
    connection's API key: the task state store is readable (and writable) through Airflow's REST
    API by anyone with task-instance access, and the fields may hold signed image or reference
    links and data URIs, which must not be readable there; nor may an edited copy be submitted.
    """

    model_config = ConfigDict(frozen=True)

    inputs: str
    sealed: str
    try_number: int | None = None


def sealer(api_key: str) -> Fernet:
    """The Fernet key for stored requests: derived from the API key, which only the workers hold."""
    digest = hashlib.sha256(b"airflow-provider-videogen taskflow request\0" + api_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(fields: dict[str, Any], api_key: str) -> str:
    return sealer(api_key).encrypt(json.dumps(fields, sort_keys=True).encode()).decode()


def unseal(sealed: str, api_key: str) -> dict[str, Any] | None:
    """The fields, or ``None`` when the copy was edited or sealed with another API key."""
    try:
        fields = json.loads(sealer(api_key).decrypt(sealed.encode()))
    except (InvalidToken, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def inputs_digest(function: Callable[..., Any], op_args: Sequence[Any], op_kwargs: dict[str, Any], fixed: Any) -> str:
    """A digest of everything that shapes the function's result: code, rendered arguments, decorator fields."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # defined in a REPL or built at runtime: its bytecode instead
        code = getattr(function, "__code__", None)
        source = code.co_code.hex() if code is not None else repr(function)
    payload = json.dumps(_keyed([source, list(op_args), op_kwargs, fixed]), sort_keys=True, default=_canonical)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _keyed(value: Any) -> Any:
    """``value`` with every dict key a string naming its type (``1`` and ``"1"`` differ), so that
    ``sort_keys`` can order a dict whose keys mix types instead of raising ``TypeError``."""
    if isinstance(value, dict):
        return {f"{type(k).__name__}:{k}": _keyed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_keyed(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """A JSON form of ``value`` that is the same in every process (each try parses the DAG anew).

    ``repr`` is not: a set's order follows the per-process string hash seed and the default
    ``repr`` holds a memory address, so a retry would read "the arguments changed", call the
    function again and pay for a new request. Sets are sorted; objects are their type and state.
    """
    if isinstance(value, (set, frozenset)):
        return sorted(json.dumps(_keyed(item), sort_keys=True, default=_canonical) for item in value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(value)).hexdigest()
    state = getattr(value, "__dict__", None)
    if type(value).__repr__ is object.__repr__ and isinstance(state, dict):
        return [type(value).__qualname__, _keyed(state)]
    text = repr(value)
    return _ADDRESS.sub("0x?", text)  # a repr that still names an address: the rest of it, not the address


#: A memory address inside a ``repr`` (``<... at 0x7f...>``): different in every process.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def not_a_request(decorator: str, result: Any, accepted: str) -> InvalidRequestError:
    """The error for a function result that is not one of the accepted shapes (names the type)."""
    return InvalidRequestError(
        f"result of the {decorator} function",
        [("return value", f"the function returned {type(result).__name__}; return {accepted}")],
    )


def unknown_keys(decorator: str, keys: set[str], allowed: Sequence[str]) -> InvalidRequestError:
    return InvalidRequestError(
        f"result of the {decorator} function",
        [(key, f"{key!r} is not a request field; allowed: {', '.join(allowed)}") for key in sorted(keys)],
    )


class FunctionRequestMixin:
    """``execute``: set the request fields from an earlier try's stored result, or from the function now.

    Mixed in before ``DecoratedOperator`` and a video operator, whose ``execute`` then validates,
    guards spend, submits or re-attaches, and defers as for the plain operator.
    """

    #: The "Rendered Template" tab shows the request the function wrote (masked like any rendered field),
    #: not the placeholder it had before the function ran.
    overwrite_rtif_after_execution = True
    #: The function runs in a worker, so these tasks cannot start in the triggerer (they still end there).
    can_start_in_triggerer = False
    #: Names of the operator attributes the request is built from (the operator's ``REQUEST_FIELDS``).
    request_fields: tuple[str, ...]
    #: ``@task.videogen`` or ``@task.videogen_remix``, for messages.
    custom_operator_name: str

    # Provided by DecoratedOperator / BaseVideoTaskOperator.
    python_callable: Callable[..., Any]
    op_args: Any
    op_kwargs: Any
    durable: bool
    log: Any
    hook: Any

    def fields_from_result(self, result: Any) -> dict[str, Any]:
        """The operator fields the function's return value sets; :class:`InvalidRequestError` for a bad shape."""
        raise NotImplementedError

    def storable_fields(self) -> dict[str, Any]:
        """The request fields as JSON values that rebuild the same request (and fingerprint) on a retry."""
        raise NotImplementedError

    if TYPE_CHECKING:

        def determine_kwargs(self, context: Any) -> Any: ...

    #: The request built from the current fields (a remix reads its files once per try, not twice).
    _built: Any = None

    def build_request(self) -> Any:
        if self._built is None:
            self._built = super().build_request()  # type: ignore[misc]
        return self._built

    def execute(self, context: Context) -> Any:
        store = context.get("task_state_store") if self.durable else None
        ti = context.get("ti")
        try_number = getattr(ti, "try_number", None)
        fixed = {name: getattr(self, name) for name in self.request_fields if _is_plain(getattr(self, name))}
        digest = inputs_digest(self.python_callable, self.op_args, dict(self.op_kwargs), fixed)
        stored = load_model(StoredRequest, store.get(REQUEST_KEY)) if store is not None else None
        fields = self._unseal(stored, store, ti) if stored is not None and stored.inputs == digest else None
        try:
            if stored is not None and fields is not None:
                self.log.info(
                    "Using the request the %s function built on try %s; the function is not called again "
                    "(a retry or clear re-attaches to what that request submitted)",
                    self.custom_operator_name,
                    stored.try_number,
                )
                self._set_fields(fields)
                self.build_request()
            else:
                if stored is not None:
                    self.log.info(
                        "The function's code, arguments or the decorator's fields changed since try %s: "
                        "calling it again (a new request is a new submission)",
                        stored.try_number,
                    )
                self._set_fields(self.fields_from_result(self._call_function(context)))
                self.build_request()  # validate before anything is stored or sent
                if store is not None:
                    sealed = seal(self.storable_fields(), self.hook.settings.api_key)
                    record = StoredRequest(inputs=digest, sealed=sealed, try_number=try_number)
                    store.set(REQUEST_KEY, record.model_dump(mode="json"), retention=RECORD_RETENTION)
        except InvalidRequestError as exc:
            # Nothing was sent, nothing billed; the function's result would be the same on a retry.
            raise AirflowFailException(str(exc)) from None
        return super().execute(context)  # type: ignore[misc]

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after deferral (a new process): the stored fields, so lineage names what was paid for."""
        store = context.get("task_state_store") if self.durable else None
        stored = load_model(StoredRequest, store.get(REQUEST_KEY)) if store is not None else None
        fields = unseal(stored.sealed, self.hook.settings.api_key) if stored is not None else None
        if fields is not None:
            self._set_fields(fields)
        return super().execute_complete(context, event)  # type: ignore[misc]

    def _unseal(self, stored: StoredRequest, store: Any, ti: Any) -> dict[str, Any] | None:
        """The stored fields; refuses when they cannot be read although a remote task was submitted.

        Unreadable means edited in the store, or sealed under an API key since rotated. Calling the
        function again could then pay for a second video while the first one runs, so that is only
        done when no try submitted anything.
        """
        fields = unseal(stored.sealed, self.hook.settings.api_key)
        if fields is None and stored_record(store) is not None:
            raise AirflowFailException(
                f"the request the {self.custom_operator_name} function built on try {stored.try_number} cannot "
                "be read (it was edited in the task state store, or the connection's API key changed), and that "
                "try submitted a remote task: not calling the function again, which could pay for a second video. "
                f"To submit anew, delete the task state store keys {where_to_delete(ti)}"
            )
        return fields

    def _call_function(self, context: Context) -> Any:
        context_merge(context, self.op_kwargs)
        kwargs = self.determine_kwargs(context)
        return self.python_callable(*self.op_args, **kwargs)

    def _set_fields(self, fields: dict[str, Any]) -> None:
        self._built = None
        for name in self.request_fields:
            if name in fields:
                setattr(self, name, fields[name])
            if getattr(self, name) is SET_DURING_EXECUTION:  # neither the function nor the decorator set it
                setattr(self, name, None)  # the model then says "field required", naming it


def _is_plain(value: Any) -> bool:
    """A value that has a stable JSON form (the prompt placeholder of the decorator does not)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False
