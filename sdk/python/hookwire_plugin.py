"""Write a hookwire process plugin in Python: one file, standard library only, Python 3.8+.

A process plugin is a program that a hookwire host starts as a child process and talks to over
stdin/stdout with the protocol of ``docs/protocol.md`` (JSON-RPC 2.0, one message per line,
version 1.1). This module speaks it; a plugin declares its hook impls in the style of pluggy's
``@hookimpl`` and calls :meth:`Plugin.run`::

    from hookwire_plugin import Plugin

    plugin = Plugin("greeter", "1.2.0")

    @plugin.hookimpl(priority=10)
    def greet(name):
        return f"{plugin.config.get('greeting', 'Hello')}, {name}"

    if __name__ == "__main__":
        plugin.run()

An impl receives the call's arguments (the JSON form of the hook's argument type: a dict, a
list, a string, ...) as its one positional argument (or nothing, if it takes no parameter) and
returns:

- ``None``: "no answer" (``{"kind": "none"}``); a first-result hook goes on to the next impl;
- any JSON-serialisable value: the answer (``{"kind": "value", ...}``); ``0``, ``""`` and
  ``False`` are answers;
- or raises: the call fails with error -32001, the exception's message, and its traceback in
  the error's ``data``. Raise :class:`HookError` for a message without the exception's type.

``async def`` impls run on one asyncio event loop in a thread of their own; plain impls run on a
bounded pool of worker threads, so several calls are served at once. Inside an impl,
:meth:`Plugin.current_call` describes the call (deadline, depth, cancellation),
``plugin.host.call`` (or ``await plugin.host.acall`` in an async impl) calls a hook through
the host, and ``plugin.log`` writes to the host's log.

Diagnostics of the SDK itself go to stderr, which the host logs under the plugin's name.
"""

import collections
import concurrent.futures
import contextvars
import inspect
import json
import os
import queue
import re
import sys
import threading
import time
import traceback

__all__ = [
    "PROTOCOL_VERSION",
    "NOT_STARTED_BY_HOST",
    "Plugin",
    "CallContext",
    "Host",
    "HookInfo",
    "HostCallResult",
    "Answer",
    "Failure",
    "Health",
    "Logger",
    "HookError",
    "Cancelled",
    "HostCallError",
    "HostCallTimeout",
    "PluginDefinitionError",
]

#: The protocol version this module speaks (``docs/protocol.md``).
PROTOCOL_VERSION = "1.1"

#: The environment variable a host sets to ``1`` when it starts a plugin.
ENV_MARKER = "HOOKWIRE_PLUGIN"

#: What a plugin run by hand (without ``HOOKWIRE_PLUGIN=1``) writes to stderr before exiting
#: with status 1.
NOT_STARTED_BY_HOST = (
    "this is a hookwire plugin; it is started by its host, not run by hand "
    "(see docs/protocol.md)"
)

# JSON-RPC error codes (docs/protocol.md, section 6).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
HOOK_FAILED = -32001
UNKNOWN_HOOK = -32002
UNSUPPORTED_VERSION = -32003
DEPTH_EXCEEDED = -32004
REFUSED = -32005

_DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_DEFAULT_MAX_CALL_DEPTH = 8
_LOG_LEVELS = ("error", "warn", "info", "debug", "trace")
_NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?\Z"
)
_PROTOCOL = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?\Z")
_I32 = (-(2**31), 2**31 - 1)
# The id of a message too long to parse, when it is among its first keys (so surely top-level):
# group 1 a method named before it, group 2 the id, group 3 the key after it.
_LEADING_ID = re.compile(
    rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?("method"\s*:\s*"[^"\\]*"\s*,\s*)?'
    rb'"id"\s*:\s*(-?\d+|"[^"\\]*")\s*,\s*"(\w+)"'
)

# The call being served by the current thread or asyncio task.
_current_call = contextvars.ContextVar("hookwire_current_call", default=None)


def _stderr(level, message):
    """One diagnostic line of the SDK on stderr (the host logs it under the plugin's name)."""
    try:
        sys.__stderr__.write("hookwire_plugin: {}: {}\n".format(level, message))
        sys.__stderr__.flush()
    except Exception:  # stderr closed: nothing left to tell
        pass


def _excerpt(data, limit=200):
    """The first ``limit`` bytes of a line, for a log message."""
    text = data[:limit].decode("utf-8", "replace")
    return text + ("..." if len(data) > limit else "")


# --------------------------------------------------------------------------------------------
# Errors


class PluginDefinitionError(ValueError):
    """A plugin or hook impl declared with invalid options (raised at decoration time)."""


class HookError(Exception):
    """Raise it from an impl to fail the call with exactly this message (error -32001).

    Any other exception fails the call too; its message is then prefixed with the
    exception's type (``KeyError: 'name'``).
    """


class Cancelled(Exception):
    """The call being served was cancelled by the host (see :meth:`CallContext.raise_if_cancelled`).

    The answer to a cancelled call is error -32800, whatever the impl returns or raises.
    """


class HostCallError(Exception):
    """``host/call`` failed as a whole: the host answered with an error, or the connection ended.

    ``code`` is the JSON-RPC error code (``-32002``: the host does not offer the hook,
    ``-32004``: calls nested too deeply, ``-32005``: the host's security policy refuses the
    call, the plugin lacking the hook's permission), or ``None`` when the host did not answer; ``data`` is
    the error's ``data``, if any. Failures of single impls are not errors: they are in
    :attr:`HostCallResult.failures`.
    """

    def __init__(self, message, code=None, data=None):
        super().__init__(message)
        self.code = code
        self.data = data


class HostCallTimeout(HostCallError, TimeoutError):
    """``host/call`` got no answer within its timeout (the request was cancelled at the host)."""


# --------------------------------------------------------------------------------------------
# Data


class HookInfo:
    """A hook the host offers to process plugins (from the ``initialize`` request).

    ``mode`` is ``"collect_all"`` or ``"first_result"``; ``args_schema`` and ``result_schema``
    are JSON Schemas (dicts) when the host has them, else ``None``.
    """

    __slots__ = ("name", "mode", "args_schema", "result_schema")

    def __init__(self, name, mode, args_schema=None, result_schema=None):
        self.name = name
        self.mode = mode
        self.args_schema = args_schema
        self.result_schema = result_schema

    def __repr__(self):
        return "HookInfo(name={!r}, mode={!r})".format(self.name, self.mode)


class Answer:
    """One impl's answer to a ``host/call``: the ``plugin`` that gave it and its ``value``."""

    __slots__ = ("plugin", "value")

    def __init__(self, plugin, value):
        self.plugin = plugin
        self.value = value

    def __repr__(self):
        return "Answer(plugin={!r}, value={!r})".format(self.plugin, self.value)

    def __eq__(self, other):
        return isinstance(other, Answer) and (self.plugin, self.value) == (other.plugin, other.value)


class Failure:
    """One impl's failure in a ``host/call``: the ``plugin`` and its ``error`` message."""

    __slots__ = ("plugin", "error")

    def __init__(self, plugin, error):
        self.plugin = plugin
        self.error = error

    def __repr__(self):
        return "Failure(plugin={!r}, error={!r})".format(self.plugin, self.error)

    def __eq__(self, other):
        return isinstance(other, Failure) and (self.plugin, self.error) == (other.plugin, other.error)


class HostCallResult:
    """The outcome of ``plugin.host.call``: every impl's :class:`Answer` and :class:`Failure`,
    in call order (a first-result hook has at most one answer)."""

    __slots__ = ("answers", "failures")

    def __init__(self, answers, failures):
        self.answers = answers
        self.failures = failures

    @property
    def values(self):
        """The answers' values, in call order."""
        return [a.value for a in self.answers]

    @property
    def first(self):
        """The first answer's value, or ``None`` when no impl answered."""
        return self.answers[0].value if self.answers else None

    def __repr__(self):
        return "HostCallResult(answers={!r}, failures={!r})".format(self.answers, self.failures)

    @classmethod
    def _from_json(cls, result):
        if not isinstance(result, dict):
            raise HostCallError("malformed host/call answer from the host: {!r}".format(result))
        answers, failures = result.get("answers", []), result.get("failures", [])
        if not isinstance(answers, list) or not isinstance(failures, list):
            raise HostCallError("malformed host/call answer from the host: {!r}".format(result))
        try:
            return cls(
                [Answer(a.get("plugin"), a.get("value")) for a in answers],
                [Failure(f.get("plugin"), f.get("error")) for f in failures],
            )
        except AttributeError:
            raise HostCallError(
                "malformed host/call answer from the host: {!r}".format(result)
            ) from None


class Health:
    """What a ``@plugin.health`` check returns (``None`` also means healthy)."""

    @staticmethod
    def healthy():
        """All is well."""
        return {"status": "healthy"}

    @staticmethod
    def degraded(message):
        """Working, but not fully (``message`` says how)."""
        return {"status": "degraded", "message": str(message)}

    @staticmethod
    def unhealthy(message):
        """Not working (``message`` says why)."""
        return {"status": "unhealthy", "message": str(message)}


class CallContext:
    """The ``hook/call`` being served, as :meth:`Plugin.current_call` returns it.

    Attributes: ``id`` (the request id), ``hook``, ``depth`` (0 for a call made by the host
    application, more for a call nested in ``host/call``s), ``deadline_ms`` (the caller's time
    left when the host sent the call, or ``None`` when unlimited) and ``traceparent`` (a W3C
    trace context, or ``None``).
    """

    __slots__ = ("id", "hook", "depth", "deadline_ms", "traceparent", "_received", "_cancelled", "_future")

    def __init__(self, id, hook, depth, deadline_ms, traceparent):
        self.id = id
        self.hook = hook
        self.depth = depth
        self.deadline_ms = deadline_ms
        self.traceparent = traceparent
        self._received = time.monotonic()
        self._cancelled = threading.Event()
        self._future = None  # the asyncio call's concurrent future, for cancellation

    @property
    def cancelled(self):
        """Whether the host cancelled the call (``$/cancelRequest``): a long impl polls it and
        gives up; the answer is then error -32800 whatever it returns."""
        return self._cancelled.is_set()

    def raise_if_cancelled(self):
        """Raise :class:`Cancelled` if the host cancelled the call."""
        if self._cancelled.is_set():
            raise Cancelled("call {} of hook `{}` was cancelled by the host".format(self.id, self.hook))

    def remaining(self):
        """Seconds left until the deadline (negative once passed), or ``None`` if unlimited."""
        if self.deadline_ms is None:
            return None
        return self.deadline_ms / 1000.0 - (time.monotonic() - self._received)

    def __repr__(self):
        return "CallContext(id={!r}, hook={!r}, depth={}, deadline_ms={!r})".format(
            self.id, self.hook, self.depth, self.deadline_ms
        )


class _Escaped(Exception):
    """Carries a ``SystemExit`` or ``KeyboardInterrupt`` of an async impl out of its task."""

    def __init__(self, original):
        super().__init__(original)
        self.original = original


class _HookImpl:
    __slots__ = ("name", "function", "options", "is_async", "takes_args")

    def __init__(self, name, function, options, is_async, takes_args):
        self.name = name
        self.function = function
        self.options = options
        self.is_async = is_async
        self.takes_args = takes_args


# --------------------------------------------------------------------------------------------
# Host side of the plugin: logging and calls to the host


class Logger:
    """``plugin.log``: writes to the host's log under the plugin's name (``log`` notifications).

    ``plugin.log.info("cache warmed", entries=120)``: keyword arguments become the record's
    ``fields`` (values that are not JSON are sent as their ``repr``). Before :meth:`Plugin.run`
    connects to the host, records go to stderr.
    """

    def __init__(self, plugin):
        self._plugin = plugin

    def log(self, level, message, **fields):
        """Log ``message`` at ``level`` (``error``, ``warn``, ``info``, ``debug`` or ``trace``).

        Raises ``ValueError`` for another level.
        """
        if level == "warning":
            level = "warn"
        if level not in _LOG_LEVELS:
            raise ValueError(
                "log level {!r} is not one of: {}".format(level, ", ".join(_LOG_LEVELS))
            )
        params = {"level": level, "message": str(message)}
        if fields:
            params["fields"] = fields
        self._plugin._notify("log", params, default=repr)

    def error(self, message, **fields):
        """Log at ``error``."""
        self.log("error", message, **fields)

    def warn(self, message, **fields):
        """Log at ``warn``."""
        self.log("warn", message, **fields)

    warning = warn

    def info(self, message, **fields):
        """Log at ``info``."""
        self.log("info", message, **fields)

    def debug(self, message, **fields):
        """Log at ``debug``."""
        self.log("debug", message, **fields)

    def trace(self, message, **fields):
        """Log at ``trace``."""
        self.log("trace", message, **fields)


class Host:
    """``plugin.host``: what the host said about itself in the handshake, and calls into it.

    ``name`` and ``version`` name the host application; ``hooks`` maps the name of every hook
    it offers to a :class:`HookInfo`; ``protocol_version`` is the version it speaks. All are
    empty before the handshake.
    """

    def __init__(self, plugin):
        self._plugin = plugin
        self.name = None
        self.version = None
        self.protocol_version = None
        self.hooks = {}
        self.max_call_depth = _DEFAULT_MAX_CALL_DEPTH

    def offers(self, hook):
        """Whether the host offers ``hook``."""
        return hook in self.hooks

    def call(self, hook, args=None, timeout=None):
        """Call ``hook`` with ``args`` through the host, with the same ordering, timeouts and
        isolation as any call, and wait for the outcome (a :class:`HostCallResult`).

        ``depth`` is set for you: the served call's depth plus one (1 outside a call). Waits at
        most ``timeout`` seconds, and never past the deadline of the call being served; that
        time goes to the host as the call's ``deadline_ms``, with the served call's
        ``traceparent`` (the host calls the hook within it). While
        it waits, the plugin keeps serving incoming calls, so the host may call back into this
        plugin. Not from an ``async def`` impl: use :meth:`acall` there.

        Raises :class:`HostCallTimeout` when no answer came in time (the request is then
        cancelled), :class:`HostCallError` when the host refused the call (hook not offered,
        calls nested too deeply) or the connection ended, :class:`Cancelled` when the call being
        served was cancelled meanwhile, ``TypeError``/``ValueError`` when ``args`` is not JSON.
        """
        plugin = self._plugin
        if plugin._loop_thread is not None and threading.current_thread() is plugin._loop_thread:
            raise RuntimeError(
                "plugin.host.call blocks, and would stall the asyncio loop that runs async impls; "
                "in an `async def` impl, use `await plugin.host.acall(...)`"
            )
        current = _current_call.get()
        wait = _effective_timeout(timeout, current)
        rid, future = plugin._host_request(hook, args, current, wait)
        try:
            result = future.result(wait)
        except concurrent.futures.TimeoutError:
            plugin._abandon_request(rid)
            raise HostCallTimeout(
                "host/call of `{}` got no answer within {:.3f} s".format(hook, wait)
            ) from None
        return HostCallResult._from_json(result)

    async def acall(self, hook, args=None, timeout=None):
        """:meth:`call` for ``async def`` impls: awaits the outcome without blocking the loop.

        Raises what :meth:`call` raises. Cancel safety: cancelling the awaiting task cancels
        the request at the host.
        """
        import asyncio

        plugin = self._plugin
        current = _current_call.get()
        wait = _effective_timeout(timeout, current)
        rid, future = plugin._host_request(hook, args, current, wait)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), wait)
        except asyncio.TimeoutError:
            plugin._abandon_request(rid)
            raise HostCallTimeout(
                "host/call of `{}` got no answer within {:.3f} s".format(hook, wait)
            ) from None
        except asyncio.CancelledError:
            plugin._abandon_request(rid)
            raise
        return HostCallResult._from_json(result)


def _effective_timeout(timeout, current):
    remaining = current.remaining() if current is not None else None
    if remaining is not None:
        remaining = max(remaining, 0.0)
        return remaining if timeout is None else min(timeout, remaining)
    return timeout


# --------------------------------------------------------------------------------------------
# The plugin


class Plugin:
    """A process plugin: its identity, its hook impls and lifecycle handlers, and its
    connection to the host.

    ``name`` follows hookwire's name rule (lower-case letters, digits, ``-`` and ``_``,
    starting with a letter or digit) and must equal the name in the plugin's manifest;
    ``version`` is semver (``1.2.0``). ``max_workers`` bounds the threads that run plain
    (non-async) impls at once; each call nested through ``host.call`` holds one while it waits,
    so keep it above the host's call depth limit (8). Raises :class:`PluginDefinitionError`
    for an invalid name, version or ``max_workers``.

    After the handshake, ``plugin.config`` is the plugin's configuration (a dict) and
    ``plugin.host`` describes the host (:class:`Host`).
    """

    def __init__(self, name, version, max_workers=16):
        if not isinstance(name, str) or not _NAME_RULE.match(name):
            raise PluginDefinitionError(
                "plugin name {!r} is not valid: use lower-case letters, digits, `-` and `_`, "
                "starting with a letter or digit".format(name)
            )
        if not isinstance(version, str) or not _SEMVER.match(version):
            raise PluginDefinitionError(
                "plugin version {!r} is not semver (expected MAJOR.MINOR.PATCH, e.g. \"1.2.0\")".format(
                    version
                )
            )
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise PluginDefinitionError(
                "max_workers must be an integer >= 1, not {!r}".format(max_workers)
            )
        self.name = name
        self.version = version
        self.config = {}
        self.host = Host(self)
        self.log = Logger(self)
        self._max_workers = max_workers
        self._impls = {}
        self._health = None
        self._on_start = []
        self._on_shutdown = []
        # Connection state, set by run().
        self._out = None
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._initialized = False
        self._accepting = True
        self._shutdown_ran = False
        self._inflight = {}  # request id -> CallContext
        self._running = {}  # request id -> CallContext of the plain impls running on workers
        self._pending = {}  # our request id -> (Future, owner CallContext or None)
        self._cancelled_ids = collections.OrderedDict()  # host/calls we cancelled, oldest first
        self._next_id = 0
        self._jobs = queue.Queue()
        self._loop = None
        self._loop_thread = None
        self._max_message_bytes = _DEFAULT_MAX_MESSAGE_BYTES

    # ---- declaring ---------------------------------------------------------------------

    def hookimpl(
        self,
        function=None,
        *,
        name=None,
        priority=None,
        tryfirst=False,
        trylast=False,
        before=None,
        after=None,
        timeout_ms=None
    ):
        """Declare a hook impl (pluggy's ``@hookimpl``), bare or with options::

            @plugin.hookimpl
            def on_startup(app): ...

            @plugin.hookimpl(name="authenticate", tryfirst=True, timeout_ms=500)
            async def check_token(request): ...

        ``name``: the hook's name (default: the function's). ``priority``: an integer, higher
        runs earlier within its tier. ``tryfirst`` / ``trylast``: the tier (not both).
        ``before`` / ``after``: lists of plugin names this impl must run before / after.
        ``timeout_ms``: the host's time limit for one call of this impl (integer >= 1).

        Returns the function unchanged. Raises :class:`PluginDefinitionError` for an invalid
        option, a function that is not callable, or a second impl of the same hook.
        """
        options = _check_options(priority, tryfirst, trylast, before, after, timeout_ms)

        def register(fn):
            if not callable(fn):
                raise PluginDefinitionError("@hookimpl decorates a function, not {!r}".format(fn))
            hook = getattr(fn, "__name__", None) if name is None else name
            if not isinstance(hook, str) or not hook or hook == "<lambda>":
                raise PluginDefinitionError(
                    "hook name must be a non-empty string, not {!r}; name the hook with "
                    "@plugin.hookimpl(name=\"...\")".format(hook)
                )
            if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
                raise PluginDefinitionError(
                    "impl of hook `{}` is a generator; an impl returns (or awaits) one answer".format(hook)
                )
            if hook in self._impls:
                raise PluginDefinitionError(
                    "hook `{}` is already implemented by `{}`; a plugin implements each hook once".format(
                        hook, _qualname(self._impls[hook].function)
                    )
                )
            self._impls[hook] = _HookImpl(
                hook, fn, options, inspect.iscoroutinefunction(fn), _takes_args(fn, hook)
            )
            return fn

        if function is not None:
            return register(function)
        return register

    def health(self, function):
        """Decorate the plugin's health check (a function of no arguments, may be ``async``).

        It returns ``None`` (healthy) or one of :class:`Health`'s values; an exception makes
        the plugin unhealthy with the exception's message. Without one, the plugin answers
        healthy. Either way, worker threads still running calls the host gave up on (timed
        out or cancelled: a thread cannot be stopped) make it degraded, and unhealthy once
        they are all held. Returns the function unchanged.
        """
        self._check_handler(function, "@plugin.health")
        self._health = function
        return function

    def on_start(self, function):
        """Decorate a function of no arguments (may be ``async``) run when the host starts the
        plugin (the ``start`` request), before any hook call. An exception refuses the start:
        the host reports the plugin as failed with its message. Returns the function."""
        self._check_handler(function, "@plugin.on_start")
        self._on_start.append(function)
        return function

    def on_shutdown(self, function):
        """Decorate a function of no arguments (may be ``async``) run once when the host shuts
        the plugin down (the ``shutdown`` request), or when the host goes away (end of input)
        without one. An exception is logged on stderr. Returns the function."""
        self._check_handler(function, "@plugin.on_shutdown")
        self._on_shutdown.append(function)
        return function

    @staticmethod
    def _check_handler(function, what):
        if not callable(function):
            raise PluginDefinitionError("{} decorates a function, not {!r}".format(what, function))

    # ---- inside a call --------------------------------------------------------------------

    @staticmethod
    def current_call():
        """The :class:`CallContext` of the call the current thread or task serves, or ``None``."""
        return _current_call.get()

    @staticmethod
    def cancelled():
        """Whether the call being served was cancelled by the host (``False`` outside a call)."""
        call = _current_call.get()
        return call is not None and call.cancelled

    # ---- running --------------------------------------------------------------------------

    def run(self):
        """Serve the host over stdin/stdout until it says ``exit`` or closes stdin, then exit
        the process (status 0). Does not return.

        Started without ``HOOKWIRE_PLUGIN=1`` in the environment (run by hand), it writes
        :data:`NOT_STARTED_BY_HOST` to stderr and exits with status 1.

        From here on, ``sys.stdout`` and file descriptor 1 point to stderr, so ``print`` and
        child processes cannot corrupt the protocol, and ``sys.stdin`` and file descriptor 0
        read from ``os.devnull``.
        """
        if os.environ.get(ENV_MARKER) != "1":
            sys.stderr.write(NOT_STARTED_BY_HOST + "\n")
            sys.stderr.flush()
            sys.exit(1)
        protocol_in, protocol_out = _take_stdio()
        self._out = protocol_out
        for _ in range(self._max_workers):
            threading.Thread(target=self._worker, name="hookwire-worker", daemon=True).start()
        try:
            self._read_loop(protocol_in)
        finally:
            self._run_shutdown_handlers()
            self._fail_pending("the host closed the connection")
            _flush_std()
        sys.exit(0)

    def _read_loop(self, stream):
        while True:
            line = self._read_line(stream)
            if line is None:
                return
            if not line.strip():
                continue
            try:
                if self._handle_line(line):
                    return
            except Exception:  # a bug of the SDK: never fatal
                _stderr("error", "internal error on a message from the host:\n" + traceback.format_exc())

    def _read_line(self, stream):
        """The next line (bytes), ``None`` at end of input; a line above the size limit is
        discarded up to its newline and logged."""
        limit = self._max_message_bytes + 2  # "\r\n"
        line = stream.readline(limit + 1)
        if not line:
            return None
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line)
            while True:
                chunk = stream.readline(65536)
                size += len(chunk)
                if not chunk:
                    break
                if chunk.endswith(b"\n"):
                    size -= 2 if chunk.endswith(b"\r\n") else 1  # the line's end is not counted
                    break
            _stderr(
                "error",
                "discarded a message from the host of {} bytes, above the limit of {} bytes: "
                "{}".format(size, self._max_message_bytes, _excerpt(line)),
            )
            self._refuse_oversized(line, size)
            return b""
        return line

    def _refuse_oversized(self, start, size):
        """Fail the request or host/call a discarded line belonged to, when its id is known
        (else the peer would wait for ever)."""
        known = _LEADING_ID.match(start)
        if known is None:
            return
        try:
            rid = json.loads(known.group(2))
        except ValueError:  # a string id with raw control characters: not a valid id anyway
            return
        why = "the message is {} bytes, above the limit of {} bytes (limits.max_message_bytes)".format(
            size, self._max_message_bytes
        )
        if known.group(1) or known.group(3) == b"method":
            self._send_error(rid, INVALID_REQUEST, "invalid request: " + why)
        elif known.group(3) in (b"result", b"error"):
            with self._state_lock:
                entry = self._pending.pop(rid, None)
            if entry is not None:
                _settle(entry[0], error=HostCallError("the host's answer to host/call was discarded: " + why))

    # ---- incoming messages ----------------------------------------------------------------

    def _handle_line(self, line):
        """Handle one line; returns True when the plugin should exit."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as e:
            _stderr("warn", "a line from the host is not JSON ({}): {}".format(e, _excerpt(line)))
            self._send_error(None, PARSE_ERROR, "parse error: the line is not JSON: {}".format(e))
            return False
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            rid = message.get("id") if isinstance(message, dict) else None
            _stderr("warn", "a message from the host is not JSON-RPC 2.0: {}".format(_excerpt(line)))
            self._send_error(
                rid if _valid_id(rid) else None,
                INVALID_REQUEST,
                'invalid request: not a JSON-RPC 2.0 message (an object with "jsonrpc": "2.0")',
            )
            return False
        if "method" in message:
            method = message["method"]
            has_id = "id" in message
            rid = message.get("id")
            if not isinstance(method, str) or (has_id and (rid is None or not _valid_id(rid))):
                _stderr("warn", "invalid request from the host: {}".format(_excerpt(line)))
                self._send_error(
                    rid if _valid_id(rid) else None,
                    INVALID_REQUEST,
                    "invalid request: `method` must be a string and `id` a string or a number",
                )
                return False
            params = message.get("params")
            if has_id:
                self._handle_request(rid, method, params)
                return False
            return self._handle_notification(method, params)
        if "id" in message and ("result" in message or "error" in message):
            self._handle_response(message)
            return False
        _stderr("warn", "a message from the host is neither a request nor a response: {}".format(_excerpt(line)))
        rid = message.get("id")
        self._send_error(
            rid if _valid_id(rid) else None,
            INVALID_REQUEST,
            "invalid request: neither a request (`method`) nor a response (`result` or `error`)",
        )
        return False

    def _handle_request(self, rid, method, params):
        if not self._accepting:
            # After `shutdown` (a second one too) every request is refused and runs nothing;
            # only the `exit` notification is awaited (docs/protocol.md, section 5).
            self._send_error(rid, INTERNAL_ERROR, "plugin `{}` is shutting down".format(self.name))
            return
        if method == "initialize":
            self._initialize(rid, params)
        elif method == "hook/call":
            self._hook_call(rid, params)
        elif method == "health":
            if self._health is None:
                self._send_result(rid, self._workers_health() or Health.healthy())
            else:
                self._spawn(self._health_check, rid)
        elif method == "start":
            self._spawn(self._start, rid)
        elif method == "shutdown":
            self._accepting = False
            self._spawn(self._shutdown, rid)
        else:
            self._send_error(
                rid,
                METHOD_NOT_FOUND,
                "method `{}` not found; this plugin (protocol {}) serves: initialize, start, "
                "hook/call, health, shutdown".format(method, PROTOCOL_VERSION),
            )

    def _handle_notification(self, method, params):
        if method == "$/cancelRequest":
            rid = params.get("id") if isinstance(params, dict) else None
            if not _valid_id(rid) or rid is None:
                _stderr("warn", "$/cancelRequest without a valid `id`: {!r}".format(params))
                return False
            self._cancel(rid)
            return False
        if method == "exit":
            return True
        _stderr("warn", "ignored the unknown notification `{}` from the host".format(method))
        return False

    def _handle_response(self, message):
        rid = message.get("id")
        with self._state_lock:
            entry = self._pending.pop(rid, None) if _valid_id(rid) else None
            late = entry is None and _valid_id(rid) and self._cancelled_ids.pop(rid, 0) is None
        if late:
            self.log.debug("ignored a late answer to the cancelled host/call {!r}".format(rid))
            return
        if entry is None:
            _stderr("warn", "ignored an answer to the unknown request id {!r}".format(rid))
            return
        future = entry[0]
        if "error" in message:
            error = message["error"]
            if isinstance(error, dict):
                _settle(
                    future,
                    error=HostCallError(
                        "host/call failed: {} (code {})".format(error.get("message"), error.get("code")),
                        error.get("code"),
                        error.get("data"),
                    )
                )
            else:
                _settle(future, error=HostCallError("host/call failed: {!r}".format(error)))
        else:
            _settle(future, result=message.get("result"))

    # ---- handshake ------------------------------------------------------------------------

    def _initialize(self, rid, params):
        if self._initialized:
            self._send_error(rid, INVALID_REQUEST, "invalid request: `initialize` was already answered")
            return
        if not isinstance(params, dict):
            self._send_error(rid, INVALID_PARAMS, "invalid params: `initialize` takes an object")
            return
        version = params.get("protocol_version")
        if not isinstance(version, str):
            self._send_error(rid, INVALID_PARAMS, "invalid params: `protocol_version` (a string) is missing")
            return
        if not _compatible(version, PROTOCOL_VERSION):
            self._send_error(
                rid,
                UNSUPPORTED_VERSION,
                "plugin `{}` speaks hookwire protocol {}, the host speaks {}; versions are "
                "compatible by semver caret rules (same major; same minor for 0.x): use a "
                "hookwire_plugin.py for protocol {}".format(self.name, PROTOCOL_VERSION, version, version),
                {"supported": PROTOCOL_VERSION},
            )
            return
        host = params.get("host") or {}
        plugin = params.get("plugin") or {}
        hooks = params.get("hooks") or []
        limits = params.get("limits") or {}
        config = plugin.get("config") if isinstance(plugin, dict) else None
        if (
            not isinstance(host, dict)
            or not isinstance(plugin, dict)
            or not isinstance(hooks, list)
            or not isinstance(limits, dict)
            or not (config is None or isinstance(config, dict))
            or not all(isinstance(h, dict) and isinstance(h.get("name"), str) for h in hooks)
        ):
            self._send_error(
                rid,
                INVALID_PARAMS,
                "invalid params: `initialize` expects objects `host`, `plugin` (with an object "
                "`config`) and `limits`, and a list `hooks` of objects with a `name`",
            )
            return
        self.host.name = host.get("name")
        self.host.version = host.get("version")
        self.host.protocol_version = version
        self.host.hooks = {
            h["name"]: HookInfo(h["name"], h.get("mode"), h.get("args_schema"), h.get("result_schema"))
            for h in hooks
        }
        max_bytes = limits.get("max_message_bytes")
        if isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes > 0:
            self._max_message_bytes = max_bytes
        depth = limits.get("max_call_depth")
        if isinstance(depth, int) and not isinstance(depth, bool) and depth > 0:
            self.host.max_call_depth = depth
        self.config = config if config is not None else {}
        if plugin.get("name") not in (None, self.name):
            _stderr(
                "warn",
                "the host loads this plugin as `{}`, but it is named `{}`; the host will refuse "
                "it: make the manifest's name and Plugin(name) equal".format(plugin.get("name"), self.name),
            )
        not_offered = [h for h in self._impls if h not in self.host.hooks]
        if not_offered:
            _stderr(
                "warn",
                "plugin `{}` implements {} that the host does not offer: {}; it offers: {}".format(
                    self.name,
                    "a hook" if len(not_offered) == 1 else "hooks",
                    ", ".join(not_offered),
                    ", ".join(self.host.hooks) or "(none)",
                ),
            )
        self._initialized = True
        self._send_result(
            rid,
            {
                "protocol_version": PROTOCOL_VERSION,
                "plugin": {"name": self.name, "version": self.version},
                "hooks": [dict(name=impl.name, **impl.options) for impl in self._impls.values()],
            },
        )

    # ---- hook calls -----------------------------------------------------------------------

    def _hook_call(self, rid, params):
        if not self._initialized:
            self._send_error(rid, INVALID_REQUEST, "invalid request: `hook/call` before `initialize`")
            return
        problem = _check_call_params(params)
        if problem:
            self._send_error(rid, INVALID_PARAMS, "invalid params of `hook/call`: " + problem)
            return
        hook = params["hook"]
        impl = self._impls.get(hook)
        if impl is None:
            self._send_error(
                rid,
                UNKNOWN_HOOK,
                "plugin `{}` does not implement hook `{}`; it implements: {}".format(
                    self.name, hook, ", ".join(self._impls) or "(none)"
                ),
            )
            return
        call = CallContext(
            rid, hook, params.get("depth", 0), params.get("deadline_ms"), params.get("traceparent")
        )
        with self._state_lock:
            if rid in self._inflight:
                duplicate = True
            else:
                duplicate = False
                self._inflight[rid] = call
        if duplicate:
            self._send_error(rid, INVALID_REQUEST, "invalid request: id {!r} is already in flight".format(rid))
            return
        args = params["args"]
        if impl.is_async:
            import asyncio

            future = asyncio.run_coroutine_threadsafe(self._run_async(impl, call, args), self._get_loop())
            call._future = future
            future.add_done_callback(lambda f: self._finish_async(call, f))
        else:
            self._jobs.put((impl, call, args))

    def _worker(self):
        while True:
            impl, call, args = self._jobs.get()
            if call.cancelled:
                self._finish(call, None, None)
                continue
            token = _current_call.set(call)
            with self._state_lock:
                self._running[call.id] = call
            try:
                value = impl.function(args) if impl.takes_args else impl.function()
                self._finish(call, value, None)
            except BaseException as e:  # SystemExit too: an impl never ends the plugin
                self._finish(call, None, e)
            finally:
                with self._state_lock:
                    self._running.pop(call.id, None)
                _current_call.reset(token)

    def _workers_health(self):
        """``None`` while the workers serve, else how many are held by calls the host gave up
        on (a timeout, a cancel): a thread cannot be stopped from outside, so an impl that
        never returns keeps its worker, and once all are held no plain impl runs."""
        with self._state_lock:
            stuck = [c.hook for c in self._running.values() if c.cancelled]
        if not stuck:
            return None
        hooks = ", ".join(
            "`{}` x{}".format(h, stuck.count(h)) for h in sorted(set(stuck))
        )
        message = (
            "{} of {} worker threads still run calls the host gave up on ({}); make long impls "
            "return when plugin.cancelled()".format(len(stuck), self._max_workers, hooks)
        )
        if len(stuck) >= self._max_workers:
            return Health.unhealthy(message + "; no plain impl can run until one returns")
        return Health.degraded(message)

    async def _run_async(self, impl, call, args):
        _current_call.set(call)  # the task's own context
        try:
            return await (impl.function(args) if impl.takes_args else impl.function())
        except (SystemExit, KeyboardInterrupt) as e:
            # Raised out of a task, these would stop the loop that serves every async impl.
            raise _Escaped(e) from None

    def _finish_async(self, call, future):
        if future.cancelled():
            # Cancelled by `_cancel` (answered -32800), or the impl raised CancelledError itself.
            self._finish(call, None, None if call.cancelled else HookError(
                "the async impl of hook `{}` was cancelled".format(call.hook)))
            return
        error = future.exception()
        if isinstance(error, _Escaped):
            error = error.original
        self._finish(call, None if error else future.result(), error)

    def _finish(self, call, value, error):
        """Answer ``call`` with ``value`` or ``error`` (or -32800 once cancelled)."""
        with self._state_lock:
            self._inflight.pop(call.id, None)
        if call.cancelled:
            self._send_error(
                call.id, REQUEST_CANCELLED, "call of hook `{}` was cancelled".format(call.hook)
            )
            return
        if error is not None:
            self._send_error(call.id, HOOK_FAILED, _error_message(error), _error_data(error))
            return
        result = {"kind": "none"} if value is None else {"kind": "value", "value": value}
        try:
            line = _encode({"jsonrpc": "2.0", "id": call.id, "result": result})
        except (TypeError, ValueError, RecursionError) as e:
            self._send_error(
                call.id,
                HOOK_FAILED,
                "the impl of hook `{}` returned a value that is not JSON-serialisable ({}): "
                "return None, or dicts, lists, strings, numbers (not NaN or infinity), booleans".format(
                    call.hook, e
                ),
            )
            return
        if len(line) > self._max_message_bytes:
            self._send_error(
                call.id,
                HOOK_FAILED,
                "the answer of hook `{}` is {} bytes, more than the host's limit of {} bytes".format(
                    call.hook, len(line), self._max_message_bytes
                ),
            )
            return
        self._write(line)

    def _cancel(self, rid):
        with self._state_lock:
            call = self._inflight.get(rid)
            owned = [(k, f) for k, (f, owner) in self._pending.items() if call is not None and owner is call]
            for k, _ in owned:
                del self._pending[k]
                self._remember_cancelled(k)
        if call is None:
            return  # already answered: nothing to do
        call._cancelled.set()
        for k, future in owned:
            self._notify("$/cancelRequest", {"id": k})
            _settle(future, error=Cancelled("call {} of hook `{}` was cancelled by the host".format(rid, call.hook)))
        if call._future is not None:
            call._future.cancel()

    # ---- lifecycle --------------------------------------------------------------------------

    def _spawn(self, target, rid):
        threading.Thread(target=target, args=(rid,), name="hookwire-lifecycle", daemon=True).start()

    def _health_check(self, rid):
        try:
            status = self._invoke(self._health)
        except BaseException as e:  # SystemExit too: the host must get an answer
            status = Health.unhealthy(_error_message(e))
        if status is None or status is True:
            status = Health.healthy()
        if (
            not isinstance(status, dict)
            or status.get("status") not in ("healthy", "degraded", "unhealthy")
            or (status["status"] != "healthy" and not isinstance(status.get("message"), str))
        ):
            status = Health.unhealthy(
                "the health check returned {!r}; return None or a value of Health.healthy(), "
                "Health.degraded(message) or Health.unhealthy(message)".format(status)
            )
        workers = self._workers_health()
        rank = {"healthy": 0, "degraded": 1, "unhealthy": 2}
        if workers is not None and rank[workers["status"]] > rank[status["status"]]:
            status = workers
        self._send_result(rid, status)

    def _start(self, rid):
        for handler in self._on_start:
            try:
                self._invoke(handler)
            except BaseException as e:  # SystemExit too: the host must get an answer
                self._send_error(
                    rid,
                    HOOK_FAILED,
                    "plugin `{}` failed to start: {}".format(self.name, _error_message(e)),
                    _error_data(e),
                )
                return
        self._send_result(rid, None)

    def _shutdown(self, rid):
        self._run_shutdown_handlers()
        self._send_result(rid, None)

    def _run_shutdown_handlers(self):
        with self._state_lock:
            if self._shutdown_ran:
                return
            self._shutdown_ran = True
        for handler in self._on_shutdown:
            try:
                self._invoke(handler)
            except BaseException:  # SystemExit too: the host must get an answer
                _stderr("error", "an on_shutdown handler failed:\n" + traceback.format_exc())

    def _invoke(self, function):
        """Call a handler of no arguments, plain or async, from a thread that is not the loop's."""
        if inspect.iscoroutinefunction(function):
            import asyncio

            return asyncio.run_coroutine_threadsafe(function(), self._get_loop()).result()
        return function()

    def _get_loop(self):
        import asyncio  # imported on first use: a plugin without async code starts faster

        with self._state_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._loop_thread = threading.Thread(
                    target=self._loop.run_forever, name="hookwire-asyncio", daemon=True
                )
                self._loop_thread.start()
            return self._loop

    # ---- outgoing messages ----------------------------------------------------------------

    def _host_request(self, hook, args, current, wait=None):
        """Send ``host/call``; returns (id, concurrent Future of the raw result).

        ``wait`` (seconds, or ``None``) is sent as ``deadline_ms``, and the served call's
        ``traceparent`` is passed on (protocol 1.1): the host calls the hook within that time.
        """
        if not isinstance(hook, str) or not hook:
            raise TypeError("host.call: the hook name must be a non-empty string, not {!r}".format(hook))
        if self._out is None:
            raise HostCallError("host.call: the plugin is not connected to a host (call it after run())")
        depth = current.depth + 1 if current is not None else 1
        future = concurrent.futures.Future()
        with self._state_lock:
            self._next_id += 1
            rid = self._next_id
            self._pending[rid] = (future, current)
        message = {
            "jsonrpc": "2.0",
            "id": rid,
            "method": "host/call",
            "params": {"hook": hook, "args": args, "depth": depth},
        }
        if wait is not None:
            message["params"]["deadline_ms"] = max(int(wait * 1000), 0)
        if current is not None and current.traceparent is not None:
            message["params"]["traceparent"] = current.traceparent
        try:
            line = _encode(message)
        except (TypeError, ValueError) as e:
            with self._state_lock:
                self._pending.pop(rid, None)
            raise type(e)("host.call(`{}`): args are not JSON-serialisable: {}".format(hook, e)) from None
        self._write(line)
        return rid, future

    def _abandon_request(self, rid):
        with self._state_lock:
            entry = self._pending.pop(rid, None)
            if entry is not None:
                self._remember_cancelled(rid)
        if entry is not None:
            self._notify("$/cancelRequest", {"id": rid})

    def _remember_cancelled(self, rid):
        """Note a host/call we cancelled (the caller holds ``_state_lock``): its late answer is
        then logged at debug, not warned about. Keeps the last 1024."""
        self._cancelled_ids[rid] = None
        if len(self._cancelled_ids) > 1024:
            self._cancelled_ids.popitem(last=False)

    def _fail_pending(self, why):
        with self._state_lock:
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            _settle(future, error=HostCallError("host/call got no answer: " + why))

    def _send_result(self, rid, result):
        self._write(_encode({"jsonrpc": "2.0", "id": rid, "result": result}))

    def _send_error(self, rid, code, message, data=None):
        error = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self._write(_encode({"jsonrpc": "2.0", "id": rid, "error": error}))

    def _notify(self, method, params, default=None):
        if self._out is None:
            if method == "log":
                _stderr(params["level"], params["message"] + (" {}".format(params["fields"]) if "fields" in params else ""))
            return
        self._write(_encode({"jsonrpc": "2.0", "method": method, "params": params}, default))

    def _write(self, line):
        with self._write_lock:
            try:
                self._out.write(line)
                self._out.flush()
            except (OSError, ValueError):  # the host is gone; end of input follows
                pass


# --------------------------------------------------------------------------------------------
# Helpers


def _take_stdio():
    """Keep fds 0 and 1 for the protocol; point fd 1 (and ``sys.stdout``) at stderr and fd 0
    (and ``sys.stdin``) at ``os.devnull``."""
    protocol_in = os.dup(0)
    protocol_out = os.dup(1)
    os.dup2(2, 1)
    try:
        sys.stdout.flush()  # what was printed before run() goes to stderr now
    except Exception:
        pass
    try:
        sys.stderr.reconfigure(line_buffering=True)  # Python < 3.9 buffers a piped stderr
    except Exception:  # replaced by the plugin with a stream that cannot: keep it
        pass
    sys.stdout = sys.stderr
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull, "r")
    return os.fdopen(protocol_in, "rb"), os.fdopen(protocol_out, "wb")


def _settle(future, result=None, error=None):
    """Complete a host/call's future, unless its awaiting task cancelled it meanwhile."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _encode(message, default=None):
    return (
        json.dumps(message, separators=(",", ":"), allow_nan=False, default=default).encode("utf-8") + b"\n"
    )


def _valid_id(rid):
    return rid is None or isinstance(rid, str) or (isinstance(rid, (int, float)) and not isinstance(rid, bool))


def _compatible(theirs, ours):
    a, b = _PROTOCOL.match(theirs), _PROTOCOL.match(ours)
    if a is None or b is None:
        return False
    (a_major, a_minor), (b_major, b_minor) = (int(a.group(1)), int(a.group(2))), (int(b.group(1)), int(b.group(2)))
    if a_major != b_major:
        return False
    return a_major != 0 or a_minor == b_minor


def _check_call_params(params):
    if not isinstance(params, dict):
        return "expected an object with `hook`, `args` and `depth`"
    if not isinstance(params.get("hook"), str):
        return "`hook` (a string) is missing"
    if "args" not in params:
        return "`args` is missing (null for a hook without arguments)"
    depth = params.get("depth", 0)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        return "`depth` must be an integer >= 0, not {!r}".format(depth)
    deadline = params.get("deadline_ms")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline < 0):
        return "`deadline_ms` must be a number >= 0 or absent, not {!r}".format(deadline)
    traceparent = params.get("traceparent")
    if traceparent is not None and not isinstance(traceparent, str):
        return "`traceparent` must be a string or absent, not {!r}".format(traceparent)
    return None


def _check_options(priority, tryfirst, trylast, before, after, timeout_ms):
    options = {}
    if priority is not None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not _I32[0] <= priority <= _I32[1]:
            raise PluginDefinitionError(
                "priority must be an integer from {} to {}, not {!r}".format(_I32[0], _I32[1], priority)
            )
        options["priority"] = priority
    for flag, value in (("tryfirst", tryfirst), ("trylast", trylast)):
        if not isinstance(value, bool):
            raise PluginDefinitionError("{} must be True or False, not {!r}".format(flag, value))
    if tryfirst and trylast:
        raise PluginDefinitionError("an impl is tryfirst or trylast, not both")
    if tryfirst:
        options["tryfirst"] = True
    if trylast:
        options["trylast"] = True
    for key, names in (("before", before), ("after", after)):
        if names is None:
            continue
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise PluginDefinitionError(
                "{} must be a list of plugin names, not {!r} (write {}=[{!r}] for one)".format(
                    key, names, key, names
                )
            )
        for n in names:
            if not isinstance(n, str) or not _NAME_RULE.match(n):
                raise PluginDefinitionError(
                    "{}: {!r} is not a plugin name (lower-case letters, digits, `-` and `_`, "
                    "starting with a letter or digit)".format(key, n)
                )
        options[key] = list(names)
    if timeout_ms is not None:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 1:
            raise PluginDefinitionError(
                "timeout_ms must be an integer >= 1 (milliseconds), not {!r}".format(timeout_ms)
            )
        options["timeout_ms"] = timeout_ms
    return options


def _takes_args(function, hook):
    """Whether the impl takes the call's arguments (one positional parameter) or nothing."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    required = [p for p in positional if p.default is p.empty and p.kind != p.VAR_POSITIONAL]
    if len(required) > 1:
        raise PluginDefinitionError(
            "impl of hook `{}` takes {} arguments; it takes one, the call's arguments as JSON "
            "(a dict for a struct), or none".format(hook, len(required))
        )
    return bool(positional)


def _qualname(function):
    return getattr(function, "__qualname__", repr(function))


def _error_message(error):
    if isinstance(error, HookError):
        return str(error) or "hook failed"
    text = str(error)
    return "{}: {}".format(type(error).__name__, text) if text else type(error).__name__


def _error_data(error):
    return {
        "type": type(error).__name__,
        "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    }
