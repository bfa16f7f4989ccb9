"""A small hookwire host written in Python, for the SDK's tests: it starts a plugin as a real
child process and speaks docs/protocol.md over its pipes, as the Rust host does."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import unittest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SDK_DIR = os.path.dirname(TESTS_DIR)
REPO_DIR = os.path.dirname(os.path.dirname(SDK_DIR))
FIXTURE = os.path.join(TESTS_DIR, "fixture_plugin.py")

# The hooks the test host offers by default (every hook of the fixture plugin).
FIXTURE_HOOKS = [
    "echo", "nothing", "zero", "fail", "hook_error", "not_json", "nan", "async_echo",
    "async_fail", "rendezvous", "async_rendezvous", "wait_cancel", "async_wait_cancel",
    "context", "nest", "async_nest", "blocking_call_in_async", "log", "printer", "config",
    "host_info", "exit_attempt", "async_exit_attempt", "ordered", "big",
]

TIMEOUT = 5.0


class TestHost:
    """A plugin process and the host end of its pipes.

    ``env=None`` gives the protocol's environment: ``PATH``, ``HOOKWIRE_PLUGIN=1`` and
    ``PYTHONPATH`` pointing at the SDK, plus ``extra_env``.
    """

    def __init__(self, command=None, cwd=None, env=None, extra_env=None):
        if command is None:
            command = [sys.executable, FIXTURE]
        if env is None:
            env = {"PATH": os.environ.get("PATH", ""), "HOOKWIRE_PLUGIN": "1", "PYTHONPATH": SDK_DIR}
        env = dict(env, **(extra_env or {}))
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd or TESTS_DIR,
        )
        self.messages = queue.Queue()
        self.stdout_lines = []
        self.stderr_lines = []
        self._next_id = 0
        self._stash = []
        self._stdout_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._stdout_thread.start()
        self._stderr_thread.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            try:
                self.messages.put(json.loads(line))
            except ValueError:
                self.messages.put({"NOT JSON": line})
        self.messages.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    # ---- sending ----------------------------------------------------------------------------

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, method, params=None):
        """Send a request; returns its id."""
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self._next_id

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def call(self, hook, args=None, depth=0, **extra):
        """Send ``hook/call``; returns its id."""
        return self.request("hook/call", dict(hook=hook, args=args, depth=depth, **extra))

    def answer(self, rid, result):
        self.send({"jsonrpc": "2.0", "id": rid, "result": result})

    def close_stdin(self):
        self.proc.stdin.close()

    # ---- receiving --------------------------------------------------------------------------

    def recv(self, timeout=TIMEOUT):
        """The next message the plugin wrote (stashed ones first)."""
        if self._stash:
            return self._stash.pop(0)
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                "no message from the plugin within {} s; its stderr:\n{}".format(timeout, self.stderr())
            ) from None
        if message is None:
            self.messages.put(None)
            raise AssertionError("the plugin closed stdout; its stderr:\n" + self.stderr())
        return message

    def response(self, rid, timeout=TIMEOUT):
        """The response to request ``rid``; other messages are kept for later ``recv``s."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while True:
                message = self.recv(max(deadline - time.monotonic(), 0.01))
                if "method" not in message and message.get("id") == rid:
                    return message
                kept.append(message)
        finally:
            self._stash = kept + self._stash

    def result(self, rid, timeout=TIMEOUT):
        """The ``result`` of request ``rid`` (fails if it is an error)."""
        message = self.response(rid, timeout)
        if "error" in message:
            raise AssertionError("request {} failed: {}".format(rid, message["error"]))
        return message["result"]

    def error(self, rid, timeout=TIMEOUT):
        """The ``error`` of request ``rid`` (fails if it succeeded)."""
        message = self.response(rid, timeout)
        if "error" not in message:
            raise AssertionError("request {} did not fail: {}".format(rid, message))
        return message["error"]

    def no_message(self, within=0.2):
        """Assert the plugin writes nothing within ``within`` seconds."""
        if self._stash:
            raise AssertionError("unexpected message: {}".format(self._stash[0]))
        try:
            message = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError("unexpected message: {}".format(message))

    def stderr(self):
        return "".join(self.stderr_lines)

    def wait_stderr(self, text, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr():
                return
            time.sleep(0.01)
        raise AssertionError("{!r} not in the plugin's stderr:\n{}".format(text, self.stderr()))

    def wait_exit(self, timeout=TIMEOUT):
        code = self.proc.wait(timeout)
        self._stdout_thread.join(timeout)
        self._stderr_thread.join(timeout)
        return code

    # ---- protocol steps ---------------------------------------------------------------------

    def initialize(self, hooks=None, config=None, version="1.0", plugin_name="fixture", limits=None):
        """Send ``initialize``; returns its id."""
        hooks = FIXTURE_HOOKS if hooks is None else hooks
        return self.request(
            "initialize",
            {
                "protocol_version": version,
                "host": {"name": "test-host", "version": "0.3.1"},
                "plugin": {"name": plugin_name, "config": config or {}},
                "hooks": [
                    {"name": h, "mode": "collect_all", "args_schema": None, "result_schema": None}
                    if isinstance(h, str)
                    else h
                    for h in hooks
                ],
                "limits": limits or {"max_message_bytes": 16777216, "max_call_depth": 8},
            },
        )

    def handshake(self, **kwargs):
        """``initialize`` then ``start``; returns the ``initialize`` result."""
        result = self.result(self.initialize(**kwargs))
        assert self.result(self.request("start")) is None
        # The fixture's on_start logs "started" before the answer: drop it.
        self._stash = [m for m in self._stash if m.get("method") != "log"]
        return result

    def stop(self):
        """End the process whatever its state."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except Exception:
                pass


class PluginTestCase(unittest.TestCase):
    """Starts hosts and always stops them."""

    def start(self, **kwargs):
        host = TestHost(**kwargs)
        self.addCleanup(host.stop)
        return host

    def started(self, **kwargs):
        """A fixture plugin past its handshake and start."""
        host = self.start(extra_env=kwargs.pop("extra_env", None))
        host.handshake(**kwargs)
        return host
