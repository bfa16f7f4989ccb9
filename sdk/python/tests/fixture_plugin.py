"""The plugin the SDK's tests drive: one hook per behaviour under test.

`asyncio` is imported where it is used: the SDK imports it only when an async impl runs, and
most tests do not need its start-up cost."""

import os
import sys
import threading
import time

from hookwire_plugin import Health, HookError, Plugin

print("printed at import, before run()")

plugin = Plugin("fixture", "0.4.2", max_workers=int(os.environ.get("FIXTURE_WORKERS", "16")))


@plugin.hookimpl
def echo(args):
    return args


@plugin.hookimpl
def nothing(args):
    return None


@plugin.hookimpl
def zero():
    return 0


@plugin.hookimpl
def fail(args):
    raise ValueError("bad input: {}".format(args))


@plugin.hookimpl
def hook_error(args):
    raise HookError("no greeting configured for locale `xx`")


@plugin.hookimpl
def not_json(args):
    return {"ids": {1, 2}}


@plugin.hookimpl
def nan(args):
    return float("nan")


@plugin.hookimpl
async def async_echo(args):
    import asyncio

    await asyncio.sleep(0)
    return {"async": args}


@plugin.hookimpl
async def async_fail(args):
    import asyncio

    await asyncio.sleep(0)
    raise KeyError("missing")


_barrier = threading.Barrier(2, timeout=3)


@plugin.hookimpl
def rendezvous(args):
    # Both calls must be in flight at once to pass the barrier.
    _barrier.wait()
    return args


_arrived = []


@plugin.hookimpl
async def async_rendezvous(args):
    import asyncio

    _arrived.append(args)
    for _ in range(300):
        if len(_arrived) >= 2:
            return args
        await asyncio.sleep(0.01)
    raise HookError("the other call never came")


@plugin.hookimpl
def wait_cancel(args):
    if args == "announce":
        plugin.log.info("waiting")
    give_up = time.monotonic() + 5
    while not plugin.cancelled() and time.monotonic() < give_up:
        time.sleep(0.005)
    plugin.log.info("noticed the cancellation", cancelled=plugin.current_call().cancelled)
    return "finished anyway"


@plugin.hookimpl
async def async_wait_cancel(args):
    import asyncio

    if args == "announce":
        plugin.log.info("waiting")
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        plugin.log.info("async impl cancelled")
        raise
    return "finished anyway"


@plugin.hookimpl
def context(args):
    call = plugin.current_call()
    remaining = call.remaining()
    return {
        "id": call.id,
        "hook": call.hook,
        "depth": call.depth,
        "deadline_ms": call.deadline_ms,
        "remaining_ok": remaining is None or 0 < remaining <= call.deadline_ms / 1000.0,
        "traceparent": call.traceparent,
    }


@plugin.hookimpl
def nest(args):
    result = plugin.host.call(args["hook"], args.get("args"), timeout=args.get("timeout"))
    return {"values": result.values, "failures": [[f.plugin, f.error] for f in result.failures]}


@plugin.hookimpl
async def async_nest(args):
    result = await plugin.host.acall(args["hook"], args.get("args"))
    return {"values": result.values}


@plugin.hookimpl
async def blocking_call_in_async(args):
    plugin.host.call("echo", 1)


@plugin.hookimpl
def log(args):
    plugin.log.info("cache warmed", entries=120)
    plugin.log.warn("disk almost full")
    return None


@plugin.hookimpl
def printer(args):
    print("print() from an impl")
    sys.stdout.write("sys.stdout.write from an impl\n")
    os.write(1, b"a raw write to fd 1\n")
    return "printed"


@plugin.hookimpl
def config(args):
    return plugin.config


@plugin.hookimpl
def host_info(args):
    return {
        "name": plugin.host.name,
        "version": plugin.host.version,
        "hooks": sorted(plugin.host.hooks),
        "modes": sorted({h.mode for h in plugin.host.hooks.values()}),
        "schemas": {n: [h.args_schema, h.result_schema] for n, h in plugin.host.hooks.items()},
    }


@plugin.hookimpl
def exit_attempt(args):
    sys.exit(3)


@plugin.hookimpl
async def async_exit_attempt(args):
    sys.exit(4)


@plugin.hookimpl(name="ordered", priority=10, tryfirst=True, before=["audit"], timeout_ms=500)
def an_ordered_impl(args):
    return "ordered"


@plugin.hookimpl
def big(args):
    return "x" * args


if os.environ.get("FIXTURE_HEALTH") == "degraded":

    @plugin.health
    def health():
        return Health.degraded("cache cold")


if os.environ.get("FIXTURE_HEALTH") == "raises":

    @plugin.health
    async def failing_health():
        raise RuntimeError("database unreachable")


@plugin.on_start
def started():
    if os.environ.get("FIXTURE_FAIL_START"):
        raise RuntimeError("no database")
    plugin.log.info("started")


@plugin.on_shutdown
def stopping():
    plugin.log.info("shutting down")


if __name__ == "__main__":
    plugin.run()
