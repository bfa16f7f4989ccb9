"""The SDK driven through real plugin processes by a test host speaking docs/protocol.md."""

import json
import os
import subprocess
import sys
import time
import unittest

from testhost import FIXTURE, SDK_DIR, TIMEOUT, PluginTestCase

sys.path.insert(0, SDK_DIR)
import hookwire_plugin  # noqa: E402


class Handshake(PluginTestCase):
    def test_initialize_answers_identity_protocol_and_hooks_with_their_options(self):
        host = self.start()
        result = host.result(host.initialize())
        self.assertEqual(result["protocol_version"], hookwire_plugin.PROTOCOL_VERSION)
        self.assertEqual(result["plugin"], {"name": "fixture", "version": "0.4.2"})
        hooks = {h["name"]: h for h in result["hooks"]}
        self.assertEqual(hooks["echo"], {"name": "echo"})
        self.assertEqual(
            hooks["ordered"],
            {"name": "ordered", "priority": 10, "tryfirst": True, "before": ["audit"], "timeout_ms": 500},
        )
        self.assertNotIn("an_ordered_impl", hooks)

    def test_a_compatible_newer_minor_version_is_accepted(self):
        host = self.start()
        self.assertEqual(host.result(host.initialize(version="1.7"))["protocol_version"], "1.1")

    def test_an_incompatible_major_version_is_refused_with_32003(self):
        host = self.start()
        for version in ("2.0", "0.9", "one"):
            error = host.error(host.initialize(version=version))
            self.assertEqual(error["code"], -32003, version)
            self.assertIn("speaks hookwire protocol 1.1, the host speaks " + version, error["message"])
            self.assertEqual(error["data"], {"supported": "1.1"})
        # A refused handshake leaves the plugin waiting for a good one.
        self.assertEqual(host.result(host.initialize())["protocol_version"], "1.1")

    def test_config_and_offered_hooks_reach_the_plugin(self):
        host = self.started(config={"greeting": "Bonjour", "nested": {"n": 1}})
        self.assertEqual(host.result(host.call("config")), {"kind": "value", "value": {"greeting": "Bonjour", "nested": {"n": 1}}})
        info = host.result(host.call("host_info"))["value"]
        self.assertEqual(info["name"], "test-host")
        self.assertEqual(info["version"], "0.3.1")
        self.assertIn("echo", info["hooks"])
        self.assertEqual(info["modes"], ["collect_all"])

    def test_the_json_schemas_of_offered_hooks_reach_the_plugin(self):
        login = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Login",
            "type": "object",
            "properties": {"user": {"type": "string"}},
            "required": ["user"],
        }
        hooks = [
            {"name": "host_info", "mode": "collect_all", "args_schema": login, "result_schema": {"type": "boolean"}},
            "echo",
        ]
        host = self.started(hooks=hooks)
        info = host.result(host.call("host_info"))["value"]
        self.assertEqual(info["schemas"], {"host_info": [login, {"type": "boolean"}], "echo": [None, None]})

    def test_hooks_the_host_does_not_offer_are_declared_and_warned_about_on_stderr(self):
        host = self.start()
        result = host.result(host.initialize(hooks=["echo", "config"]))
        self.assertIn("nothing", [h["name"] for h in result["hooks"]])
        host.wait_stderr("plugin `fixture` implements hooks that the host does not offer: nothing")
        host.wait_stderr("it offers: echo, config")

    def test_a_different_plugin_name_from_the_host_is_warned_about(self):
        host = self.start()
        host.result(host.initialize(plugin_name="greeter"))
        host.wait_stderr("the host loads this plugin as `greeter`, but it is named `fixture`")

    def test_a_second_initialize_is_an_invalid_request(self):
        host = self.start()
        host.result(host.initialize())
        self.assertEqual(host.error(host.initialize())["code"], -32600)

    def test_a_hook_call_before_initialize_is_an_invalid_request(self):
        host = self.start()
        error = host.error(host.call("echo", 1))
        self.assertEqual(error["code"], -32600)
        self.assertIn("before `initialize`", error["message"])

    def test_a_failing_on_start_refuses_the_start_with_its_message(self):
        host = self.start(extra_env={"FIXTURE_FAIL_START": "1"})
        host.result(host.initialize())
        error = host.error(host.request("start"))
        self.assertEqual(error["code"], -32001)
        self.assertEqual(error["message"], "plugin `fixture` failed to start: RuntimeError: no database")
        self.assertIn("no database", error["data"]["traceback"])


class Answers(PluginTestCase):
    def test_a_value_none_and_a_falsy_value_are_answers_of_their_kind(self):
        host = self.started()
        self.assertEqual(host.result(host.call("echo", {"a": [1, "b"]})), {"kind": "value", "value": {"a": [1, "b"]}})
        self.assertEqual(host.result(host.call("nothing", 1)), {"kind": "none"})
        self.assertEqual(host.result(host.call("zero", None)), {"kind": "value", "value": 0})
        self.assertEqual(host.result(host.call("echo", None)), {"kind": "none"})

    def test_an_exception_is_error_32001_with_message_and_traceback(self):
        host = self.started()
        error = host.error(host.call("fail", 7))
        self.assertEqual(error["code"], -32001)
        self.assertEqual(error["message"], "ValueError: bad input: 7")
        self.assertEqual(error["data"]["type"], "ValueError")
        self.assertIn("Traceback (most recent call last)", error["data"]["traceback"])
        self.assertIn('fixture_plugin.py", line', error["data"]["traceback"])

    def test_a_hook_error_fails_with_exactly_its_message(self):
        host = self.started()
        self.assertEqual(host.error(host.call("hook_error", 1))["message"], "no greeting configured for locale `xx`")

    def test_a_value_that_is_not_json_is_error_32001_saying_so(self):
        host = self.started()
        for hook in ("not_json", "nan"):
            error = host.error(host.call(hook, 1))
            self.assertEqual(error["code"], -32001)
            self.assertIn("the impl of hook `{}` returned a value that is not JSON-serialisable".format(hook), error["message"])

    def test_an_answer_above_the_hosts_message_limit_is_an_error(self):
        host = self.started(limits={"max_message_bytes": 1000, "max_call_depth": 8})
        self.assertEqual(host.result(host.call("big", 10))["value"], "x" * 10)
        error = host.error(host.call("big", 5000))
        self.assertEqual(error["code"], -32001)
        self.assertIn("more than the host's limit of 1000 bytes", error["message"])

    def test_async_impls_answer_values_and_errors(self):
        host = self.started()
        self.assertEqual(host.result(host.call("async_echo", 3)), {"kind": "value", "value": {"async": 3}})
        error = host.error(host.call("async_fail", 3))
        self.assertEqual((error["code"], error["message"]), (-32001, "KeyError: 'missing'"))

    def test_sys_exit_in_an_impl_fails_the_call_not_the_plugin(self):
        host = self.started()
        self.assertEqual(host.error(host.call("exit_attempt", None))["message"], "SystemExit: 3")
        self.assertEqual(host.error(host.call("async_exit_attempt", None))["message"], "SystemExit: 4")
        self.assertEqual(host.result(host.call("echo", 1))["value"], 1)
        self.assertEqual(host.result(host.call("async_echo", 1))["value"], {"async": 1})

    def test_an_unknown_hook_is_error_32002_naming_the_implemented_hooks(self):
        host = self.started()
        error = host.error(host.call("gret", 1))
        self.assertEqual(error["code"], -32002)
        self.assertTrue(error["message"].startswith("plugin `fixture` does not implement hook `gret`; it implements: echo, nothing"))


class Concurrency(PluginTestCase):
    def test_two_slow_calls_overlap(self):
        host = self.started()
        # Each call waits at a two-party barrier: they pass only when both run at once.
        a, b = host.call("rendezvous", "a"), host.call("rendezvous", "b")
        self.assertEqual(host.result(b)["value"], "b")
        self.assertEqual(host.result(a)["value"], "a")

    def test_two_slow_async_calls_overlap(self):
        host = self.started()
        a, b = host.call("async_rendezvous", "a"), host.call("async_rendezvous", "b")
        self.assertEqual(host.result(a)["value"], "a")
        self.assertEqual(host.result(b)["value"], "b")

    def test_a_slow_call_does_not_hold_up_a_fast_one(self):
        host = self.started()
        slow = host.call("wait_cancel", None)
        fast = host.call("echo", "fast")
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": fast, "result": {"kind": "value", "value": "fast"}})
        host.notify("$/cancelRequest", {"id": slow})
        self.assertEqual(host.error(slow)["code"], -32800)


class Cancellation(PluginTestCase):
    def test_a_cancelled_call_sees_it_and_is_answered_32800(self):
        host = self.started()
        rid = host.call("wait_cancel", "announce")
        self.assertEqual(host.recv()["params"]["message"], "waiting")
        host.notify("$/cancelRequest", {"id": rid})
        log = host.recv()
        self.assertEqual(log["params"], {"level": "info", "message": "noticed the cancellation", "fields": {"cancelled": True}})
        error = host.recv()
        self.assertEqual(error["id"], rid)
        self.assertEqual(error["error"]["code"], -32800)
        self.assertEqual(error["error"]["message"], "call of hook `wait_cancel` was cancelled")

    def test_a_cancelled_async_call_is_interrupted_and_answered_32800(self):
        host = self.started()
        rid = host.call("async_wait_cancel", "announce")
        self.assertEqual(host.recv()["params"]["message"], "waiting")
        host.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(host.error(rid)["code"], -32800)
        # The impl got CancelledError, not a ten-second sleep.
        self.assertEqual(host.recv(1)["params"]["message"], "async impl cancelled")

    def test_a_call_cancelled_while_queued_is_answered_32800_without_running(self):
        host = self.started(extra_env={"FIXTURE_WORKERS": "1"})
        busy = host.call("wait_cancel", "announce")  # holds the only worker
        self.assertEqual(host.recv()["params"]["message"], "waiting")
        queued = host.call("log", None)  # would send two log notifications if it ran
        host.notify("$/cancelRequest", {"id": queued})
        host.notify("$/cancelRequest", {"id": busy})
        self.assertEqual(host.recv()["params"]["message"], "noticed the cancellation")
        self.assertEqual(host.recv()["id"], busy)
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": queued, "error": {"code": -32800, "message": "call of hook `log` was cancelled"}})
        host.no_message(0.1)

    def test_cancelling_an_unknown_or_finished_call_is_ignored(self):
        host = self.started()
        rid = host.call("echo", 1)
        host.result(rid)
        host.notify("$/cancelRequest", {"id": rid})
        host.notify("$/cancelRequest", {"id": 999})
        host.notify("$/cancelRequest", {})
        host.no_message(0.1)
        self.assertEqual(host.result(host.call("echo", 2))["value"], 2)

    def test_a_call_cancelled_while_waiting_for_the_host_cancels_its_host_call(self):
        host = self.started()
        rid = host.call("nest", {"hook": "echo", "args": 1})
        inner = host.recv()
        self.assertEqual(inner["method"], "host/call")
        host.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": inner["id"]}})
        self.assertEqual(host.error(rid)["code"], -32800)
        # A late answer to the cancelled host/call is ignored, logged at debug.
        host.answer(inner["id"], {"answers": [], "failures": []})
        self.assertEqual(
            host.recv()["params"],
            {"level": "debug", "message": "ignored a late answer to the cancelled host/call {}".format(inner["id"])},
        )


class CallsToTheHost(PluginTestCase):
    def test_deadline_depth_and_traceparent_reach_the_impl(self):
        host = self.started()
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ctx = host.result(host.call("context", None, depth=3, deadline_ms=950, traceparent=tp))["value"]
        self.assertEqual(ctx["hook"], "context")
        self.assertEqual((ctx["depth"], ctx["deadline_ms"], ctx["traceparent"]), (3, 950, tp))
        self.assertTrue(ctx["remaining_ok"])
        ctx = host.result(host.call("context", None))["value"]
        self.assertEqual((ctx["depth"], ctx["deadline_ms"], ctx["traceparent"]), (0, None, None))

    def test_nested_calls_host_plugin_host_same_plugin_carry_increasing_depth(self):
        host = self.started()
        outer = host.call("nest", {"hook": "nest", "args": {"hook": "context", "args": None}})
        first = host.recv()
        self.assertEqual(first["method"], "host/call")
        self.assertEqual(first["params"], {"hook": "nest", "args": {"hook": "context", "args": None}, "depth": 1})
        # The host calls back into the same plugin while its first impl waits.
        middle = host.call("nest", first["params"]["args"], depth=1)
        second = host.recv()
        self.assertEqual(second["params"], {"hook": "context", "args": None, "depth": 2})
        inner = host.call("context", None, depth=2)
        ctx = host.result(inner)["value"]
        self.assertEqual(ctx["depth"], 2)
        host.answer(second["id"], {"answers": [{"plugin": "fixture", "value": ctx}], "failures": []})
        middle_value = host.result(middle)["value"]
        self.assertEqual(middle_value, {"values": [ctx], "failures": []})
        host.answer(
            first["id"],
            {"answers": [{"plugin": "fixture", "value": middle_value}], "failures": [{"plugin": "other", "error": "timed out after 500 ms"}]},
        )
        self.assertEqual(
            host.result(outer)["value"],
            {"values": [middle_value], "failures": [["other", "timed out after 500 ms"]]},
        )

    def test_async_impls_call_the_host_with_acall(self):
        host = self.started()
        rid = host.call("async_nest", {"hook": "echo", "args": 5}, depth=2)
        request = host.recv()
        self.assertEqual(request["params"], {"hook": "echo", "args": 5, "depth": 3})
        host.answer(request["id"], {"answers": [{"plugin": "p", "value": 5}], "failures": []})
        self.assertEqual(host.result(rid)["value"], {"values": [5]})

    def test_a_blocking_host_call_from_an_async_impl_is_refused_with_a_hint(self):
        host = self.started()
        error = host.error(host.call("blocking_call_in_async", None))
        self.assertIn("use `await plugin.host.acall(...)`", error["message"])

    def test_a_host_call_refused_by_the_host_raises_in_the_impl(self):
        host = self.started()
        rid = host.call("nest", {"hook": "deep", "args": None}, depth=8)
        request = host.recv()
        self.assertEqual(request["params"]["depth"], 9)
        host.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32004, "message": "call depth 9 is above 8"}})
        error = host.error(rid)
        self.assertEqual(error["code"], -32001)
        self.assertEqual(error["message"], "HostCallError: host/call failed: call depth 9 is above 8 (code -32004)")

    def test_a_host_call_without_answer_times_out_and_is_cancelled(self):
        host = self.started()
        rid = host.call("nest", {"hook": "echo", "args": 1, "timeout": 0.1})
        request = host.recv()
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request["id"]}})
        self.assertIn("HostCallTimeout: host/call of `echo` got no answer within 0.100 s", host.error(rid)["message"])
        host.answer(request["id"], {"answers": [], "failures": []})
        self.assertEqual(host.recv()["params"]["level"], "debug")

    def test_a_host_call_waits_no_longer_than_the_served_calls_deadline(self):
        host = self.started()
        started = time.monotonic()
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        rid = host.call("nest", {"hook": "echo", "args": 1}, deadline_ms=100, traceparent=tp)
        request = host.recv()
        # Protocol 1.1: the host/call carries what is left of the deadline, and the trace.
        self.assertTrue(0 <= request["params"]["deadline_ms"] <= 100, request)
        self.assertEqual(request["params"]["traceparent"], tp)
        self.assertEqual(host.recv()["params"], {"id": request["id"]})
        self.assertIn("HostCallTimeout", host.error(rid)["message"])
        self.assertLess(time.monotonic() - started, 2)

    def test_log_sends_notifications_with_level_message_and_fields(self):
        host = self.started()
        rid = host.call("log", None)
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "method": "log", "params": {"level": "info", "message": "cache warmed", "fields": {"entries": 120}}})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "method": "log", "params": {"level": "warn", "message": "disk almost full"}})
        self.assertEqual(host.recv()["id"], rid)


class Lifecycle(PluginTestCase):
    def test_start_runs_on_start_and_answers_null(self):
        host = self.start()
        host.result(host.initialize())
        rid = host.request("start")
        self.assertEqual(host.recv()["params"], {"level": "info", "message": "started"})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": rid, "result": None})

    def test_health_is_healthy_by_default(self):
        host = self.started()
        self.assertEqual(host.result(host.request("health")), {"status": "healthy"})

    def test_a_health_check_can_report_degraded(self):
        host = self.started(extra_env={"FIXTURE_HEALTH": "degraded"})
        self.assertEqual(host.result(host.request("health")), {"status": "degraded", "message": "cache cold"})

    def test_a_raising_health_check_reports_unhealthy_with_its_message(self):
        host = self.started(extra_env={"FIXTURE_HEALTH": "raises"})
        self.assertEqual(
            host.result(host.request("health")),
            {"status": "unhealthy", "message": "RuntimeError: database unreachable"},
        )

    def test_shutdown_runs_on_shutdown_refuses_new_calls_and_exit_ends_with_status_0(self):
        host = self.started()
        rid = host.request("shutdown")
        self.assertEqual(host.recv()["params"], {"level": "info", "message": "shutting down"})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": rid, "result": None})
        error = host.error(host.call("echo", 1))
        self.assertEqual((error["code"], error["message"]), (-32603, "plugin `fixture` is shutting down"))
        host.notify("exit")
        self.assertEqual(host.wait_exit(), 0)

    def test_every_request_after_shutdown_is_refused_and_runs_nothing(self):
        host = self.started()
        rid = host.request("shutdown")
        self.assertEqual(host.recv()["params"], {"level": "info", "message": "shutting down"})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": rid, "result": None})
        refused = (-32603, "plugin `fixture` is shutting down")
        # `log` would send notifications, `start` runs on_start (which logs "started"), a
        # second `shutdown` would run nothing new but is refused as well.
        for rid in (
            host.call("log", None),
            host.request("health"),
            host.request("start"),
            host.request("shutdown"),
            host.initialize(),
        ):
            error = host.error(rid)
            self.assertEqual((error["code"], error["message"]), refused)
        host.no_message(0.2)
        host.notify("exit")
        self.assertEqual(host.wait_exit(), 0)

    def test_end_of_input_runs_on_shutdown_and_exits_with_status_0(self):
        host = self.started()
        host.close_stdin()
        self.assertEqual(host.recv()["params"], {"level": "info", "message": "shutting down"})
        self.assertEqual(host.wait_exit(), 0)

    def test_exit_ends_the_plugin_even_with_a_call_in_flight(self):
        host = self.started()
        host.call("wait_cancel", None)
        host.notify("exit")
        self.assertEqual(host.wait_exit(), 0)

    def test_a_plugin_run_by_hand_says_so_and_exits_with_status_1(self):
        for marker in ({}, {"HOOKWIRE_PLUGIN": "0"}):
            env = dict({"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SDK_DIR}, **marker)
            done = subprocess.run(
                [sys.executable, FIXTURE], stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=TIMEOUT
            )
            self.assertEqual(done.returncode, 1)
            self.assertEqual(done.stdout, b"printed at import, before run()\n")
            self.assertEqual(
                done.stderr.decode(),
                "this is a hookwire plugin; it is started by its host, not run by hand (see docs/protocol.md)\n",
            )


class Stdout(PluginTestCase):
    def test_print_and_writes_to_fd_1_go_to_stderr_not_the_protocol(self):
        host = self.started()
        self.assertEqual(host.result(host.call("printer", None))["value"], "printed")
        host.wait_stderr("print() from an impl\n")
        host.wait_stderr("sys.stdout.write from an impl\n")
        host.wait_stderr("a raw write to fd 1\n")
        host.wait_stderr("printed at import, before run()\n")
        host.close_stdin()
        host.wait_exit()
        for line in host.stdout_lines:
            self.assertEqual(json.loads(line)["jsonrpc"], "2.0")


class BadInput(PluginTestCase):
    def assert_alive(self, host):
        self.assertEqual(host.result(host.call("echo", "alive"))["value"], "alive")

    def test_a_line_that_is_not_json_is_a_parse_error_and_not_fatal(self):
        host = self.started()
        host.send_raw(b"this is not json\n")
        message = host.recv()
        self.assertIsNone(message["id"])
        self.assertEqual(message["error"]["code"], -32700)
        host.wait_stderr("a line from the host is not JSON")
        host.wait_stderr("this is not json")
        host.send_raw(b"\xff\xfe{\n")
        self.assertEqual(host.recv()["error"]["code"], -32700)
        self.assert_alive(host)

    def test_json_that_is_not_json_rpc_is_an_invalid_request(self):
        host = self.started()
        host.send_raw(b"[1, 2]\n")
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": 'invalid request: not a JSON-RPC 2.0 message (an object with "jsonrpc": "2.0")'}})
        host.send({"jsonrpc": "1.0", "id": 41, "method": "health"})
        self.assertEqual(host.error(41)["code"], -32600)
        host.send({"jsonrpc": "2.0", "id": 42, "method": 5})
        self.assertEqual(host.error(42)["code"], -32600)
        host.send({"jsonrpc": "2.0", "id": 43})
        self.assertEqual(host.error(43)["code"], -32600)
        host.send({"jsonrpc": "2.0", "id": [1], "method": "health"})
        self.assertEqual(host.recv()["error"]["code"], -32600)
        # A request's id is a string or a number: null is invalid (docs/protocol.md §1).
        host.send({"jsonrpc": "2.0", "id": None, "method": "health"})
        self.assertEqual(host.recv(), {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request: `method` must be a string and `id` a string or a number"}})
        self.assert_alive(host)

    def test_an_unknown_method_is_method_not_found(self):
        host = self.started()
        error = host.error(host.request("frobnicate"))
        self.assertEqual(error["code"], -32601)
        self.assertIn("method `frobnicate` not found", error["message"])
        self.assert_alive(host)

    def test_hook_call_params_of_the_wrong_shape_are_invalid_params(self):
        host = self.started()
        cases = [
            ([1, 2], "expected an object"),
            ({"args": 1}, "`hook` (a string) is missing"),
            ({"hook": "echo"}, "`args` is missing"),
            ({"hook": "echo", "args": 1, "depth": "deep"}, "`depth` must be an integer >= 0"),
            ({"hook": "echo", "args": 1, "deadline_ms": "soon"}, "`deadline_ms` must be a number"),
            ({"hook": "echo", "args": 1, "traceparent": 7}, "`traceparent` must be a string"),
        ]
        for params, message in cases:
            error = host.error(host.request("hook/call", params))
            self.assertEqual(error["code"], -32602, params)
            self.assertIn(message, error["message"])
        self.assertEqual(host.error(host.request("initialize", [1]))["code"], -32600)  # already initialized
        self.assert_alive(host)

    def test_initialize_params_of_the_wrong_shape_are_invalid_params(self):
        host = self.start()
        for params in ([1], {}, {"protocol_version": "1.0", "hooks": "echo"}, {"protocol_version": "1.0", "plugin": {"config": [1]}}):
            self.assertEqual(host.error(host.request("initialize", params))["code"], -32602, params)
        self.assertEqual(host.result(host.initialize())["plugin"]["name"], "fixture")

    def test_unknown_notifications_and_answers_to_unknown_ids_are_logged_and_ignored(self):
        host = self.started()
        host.notify("$/progress", {"x": 1})
        host.send({"jsonrpc": "2.0", "id": 77, "result": {"answers": []}})
        host.send_raw(b"\n\r\n")
        host.no_message(0.1)
        host.wait_stderr("ignored the unknown notification `$/progress`")
        host.wait_stderr("ignored an answer to the unknown request id 77")
        self.assert_alive(host)

    def test_a_request_above_the_message_limit_is_discarded_and_refused_by_its_id(self):
        host = self.started(limits={"max_message_bytes": 1000, "max_call_depth": 8})
        rid = host.call("echo", "y" * 5000)
        error = host.error(rid)
        self.assertEqual(error["code"], -32600)
        self.assertIn("above the limit of 1000 bytes (limits.max_message_bytes)", error["message"])
        host.wait_stderr("discarded a message from the host of 5102 bytes, above the limit of 1000 bytes")
        host.send_raw(b"[" + b"1," * 1000 + b"1]\n")  # no id to answer: logged only
        host.wait_stderr("discarded a message from the host of 2003 bytes")
        host.no_message(0.1)
        self.assert_alive(host)

    def test_a_host_call_answer_above_the_message_limit_fails_the_host_call(self):
        host = self.started(limits={"max_message_bytes": 1000, "max_call_depth": 8})
        rid = host.call("nest", {"hook": "echo", "args": 1})
        request = host.recv()
        host.answer(request["id"], {"answers": [{"plugin": "p", "value": "z" * 5000}], "failures": []})
        error = host.error(rid)
        self.assertIn("HostCallError: the host's answer to host/call was discarded: the message is", error["message"])


class Declaring(unittest.TestCase):
    def plugin(self):
        return hookwire_plugin.Plugin("p", "1.0.0")

    def assert_refused(self, message, declare):
        with self.assertRaises(hookwire_plugin.PluginDefinitionError) as caught:
            declare()
        self.assertIn(message, str(caught.exception))

    def test_bare_and_named_hookimpls_register_under_the_right_hook(self):
        p = self.plugin()

        @p.hookimpl
        def greet(name):
            return name

        @p.hookimpl(name="authenticate", trylast=True, after=["audit"])
        async def check(request):
            return None

        self.assertEqual(greet("x"), "x")  # the function is returned unchanged
        self.assertEqual(sorted(p._impls), ["authenticate", "greet"])
        self.assertEqual(p._impls["authenticate"].options, {"trylast": True, "after": ["audit"]})
        self.assertTrue(p._impls["authenticate"].is_async)

    def test_invalid_options_are_refused_at_decoration_time_with_a_clear_error(self):
        p = self.plugin()
        f = lambda args: None  # noqa: E731
        self.assert_refused("tryfirst or trylast, not both", lambda: p.hookimpl(tryfirst=True, trylast=True)(f))
        self.assert_refused("timeout_ms must be an integer >= 1", lambda: p.hookimpl(timeout_ms=0)(f))
        self.assert_refused("priority must be an integer", lambda: p.hookimpl(priority="high")(f))
        self.assert_refused("priority must be an integer", lambda: p.hookimpl(priority=2**31)(f))
        self.assert_refused("write before=['audit'] for one", lambda: p.hookimpl(before="audit")(f))
        self.assert_refused("'Audit' is not a plugin name", lambda: p.hookimpl(after=["Audit"])(f))
        self.assert_refused("tryfirst must be True or False", lambda: p.hookimpl(tryfirst=1)(f))
        self.assert_refused("takes 2 arguments", lambda: p.hookimpl(name="two")(lambda a, b: None))
        self.assert_refused('name the hook with @plugin.hookimpl(name="...")', lambda: p.hookimpl(f))
        self.assert_refused("hook name must be a non-empty string", lambda: p.hookimpl(name="")(f))
        with self.assertRaises(TypeError):
            p.hookimpl(wrapper=True)

    def test_a_second_impl_of_a_hook_is_refused(self):
        p = self.plugin()
        p.hookimpl(name="greet")(lambda args: 1)
        self.assert_refused("hook `greet` is already implemented", lambda: p.hookimpl(name="greet")(lambda args: 2))

    def test_invalid_plugin_names_and_versions_are_refused(self):
        self.assert_refused("plugin name 'Greeter' is not valid", lambda: hookwire_plugin.Plugin("Greeter", "1.0.0"))
        self.assert_refused("plugin version '1.2' is not semver", lambda: hookwire_plugin.Plugin("greeter", "1.2"))
        hookwire_plugin.Plugin("greeter", "1.2.0-beta.1+build.5")


if __name__ == "__main__":
    unittest.main()
