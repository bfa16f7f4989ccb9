"""The greeter, as a process plugin in Python: the demo host's `on_startup` (a greeting line for
the start-up log), `before_request` (answers `GET /greet`, leaves other requests to the next
plugin) and `on_shutdown`. Its hooks and their JSON shapes are those of `hookspecs/`."""

from hookwire_plugin import Plugin

plugin = Plugin("greeter", "1.0.0")


def greeting(name):
    """`Hello, Ada!`, with the greeting and punctuation of the plugin's config."""
    return "{}, {}{}".format(
        plugin.config.get("greeting", "Hello"), name, plugin.config.get("punctuation", "!")
    )


@plugin.hookimpl
def on_startup(app):
    """`AppInfo` ({"name", "version"}) -> a line for the start-up log."""
    plugin.log.info("greeting the application", app=app["name"], version=app["version"])
    return greeting(app["name"])


@plugin.hookimpl(tryfirst=True)
def before_request(request):
    """`Request` ({"method", "path", "headers"}) -> a `Response` ({"status", "body"}) for
    `/greet` (the name from the `x-name` header), else None: not ours."""
    if request["path"] != "/greet":
        return None
    if request["method"] != "GET":
        return {"status": 405, "body": "/greet answers GET"}
    return {"status": 200, "body": greeting(request["headers"].get("x-name", "world"))}


@plugin.hookimpl
def on_shutdown(app):
    """`AppInfo` -> nothing (`()` is JSON null)."""
    plugin.log.info("goodbye", app=app["name"])


if __name__ == "__main__":
    plugin.run()
