"""The example plugin examples/plugins/python/greeter/, started as a host starts it: the
manifest's command and `[process] env`, a cleared environment plus PATH and HOOKWIRE_PLUGIN=1,
the plugin's folder as working directory."""

import os

from testhost import REPO_DIR, PluginTestCase

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

GREETER_DIR = os.path.join(REPO_DIR, "examples", "plugins", "python", "greeter")

# The demo host's hooks (hookspecs/src/lib.rs) as it offers them to process plugins.
DEMO_HOOKS = [
    {"name": "on_startup", "mode": "collect_all", "args_schema": None, "result_schema": None},
    {"name": "on_shutdown", "mode": "collect_all", "args_schema": None, "result_schema": None},
    {"name": "before_request", "mode": "first_result", "args_schema": None, "result_schema": None},
    {"name": "after_request", "mode": "collect_all", "args_schema": None, "result_schema": None},
    {"name": "authenticate", "mode": "first_result", "args_schema": None, "result_schema": None},
    {"name": "on_config_loaded", "mode": "collect_all", "args_schema": None, "result_schema": None},
    {"name": "compute", "mode": "collect_all", "args_schema": None, "result_schema": None},
    {"name": "compute_first", "mode": "first_result", "args_schema": None, "result_schema": None},
]

APP = {"name": "demo-app", "version": "0.3.1"}


class ExampleGreeter(PluginTestCase):
    def setUp(self):
        if tomllib is None:
            self.skipTest("reading plugin.toml needs tomllib (Python 3.11+)")
        with open(os.path.join(GREETER_DIR, "plugin.toml"), "rb") as f:
            self.manifest = tomllib.load(f)

    def start_greeter(self, config=None):
        process = self.manifest["process"]
        env = dict(process.get("env", {}), PATH=os.environ.get("PATH", ""), HOOKWIRE_PLUGIN="1")
        host = self.start(command=process["command"], cwd=GREETER_DIR, env=env)
        # The host merges the manifest's [config] under its config file's section.
        result = host.result(
            host.initialize(
                hooks=DEMO_HOOKS,
                plugin_name=self.manifest["name"],
                config=dict(self.manifest.get("config", {}), **(config or {})),
            )
        )
        self.assertIsNone(host.result(host.request("start")))
        return host, result

    def test_the_example_greeter_handshakes_as_its_manifest_says(self):
        self.assertEqual(self.manifest["kind"], "process")
        host, result = self.start_greeter()
        self.assertEqual(result["plugin"], {"name": self.manifest["name"], "version": self.manifest["version"]})
        self.assertEqual(
            result["hooks"],
            [{"name": "on_startup"}, {"name": "before_request", "tryfirst": True}, {"name": "on_shutdown"}],
        )
        self.assertNotIn("does not offer", host.stderr())

    def test_the_example_greeter_greets_with_its_config(self):
        host, _ = self.start_greeter()
        rid = host.call("on_startup", APP)
        log = host.recv()
        self.assertEqual(
            log["params"],
            {"level": "info", "message": "greeting the application", "fields": {"app": "demo-app", "version": "0.3.1"}},
        )
        self.assertEqual(host.result(rid), {"kind": "value", "value": "Hello, demo-app!"})

        host, _ = self.start_greeter(config={"greeting": "Bonjour"})
        self.assertEqual(host.result(host.call("on_startup", APP))["value"], "Bonjour, demo-app!")

    def test_the_example_greeter_answers_get_greet_and_leaves_other_requests(self):
        host, _ = self.start_greeter()
        greet = {"method": "GET", "path": "/greet", "headers": {"x-name": "Ada"}}
        self.assertEqual(
            host.result(host.call("before_request", greet)),
            {"kind": "value", "value": {"status": 200, "body": "Hello, Ada!"}},
        )
        other = {"method": "GET", "path": "/health", "headers": {}}
        self.assertEqual(host.result(host.call("before_request", other)), {"kind": "none"})
        post = dict(greet, method="POST")
        self.assertEqual(host.result(host.call("before_request", post))["value"]["status"], 405)

    def test_the_example_greeter_shuts_down_and_exits_with_status_0(self):
        host, _ = self.start_greeter()
        rid = host.call("on_shutdown", APP)
        self.assertEqual(host.recv()["params"]["message"], "goodbye")
        self.assertEqual(host.result(rid), {"kind": "none"})
        self.assertIsNone(host.result(host.request("shutdown")))
        host.notify("exit")
        self.assertEqual(host.wait_exit(), 0)
