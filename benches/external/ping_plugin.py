"""The Python process plugin of `benches/external.rs`: the SDK (`sdk/python/hookwire_plugin.py`)
with one trivial hook, `ping` (answers its argument plus one)."""

from hookwire_plugin import Plugin

plugin = Plugin("ping-py", "0.1.0")


@plugin.hookimpl
def ping(n):
    """An integer -> that integer plus one."""
    return n + 1


if __name__ == "__main__":
    plugin.run()
