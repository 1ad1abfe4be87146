#!/usr/bin/env python3
"""Exercise an MCP server with the official Python SDK 2.x high-level `Client`, in the era MODE
(`2026-07-28`: stateless requests, `server/discover`, input_required round trips, `subscriptions/listen`;
`auto`: whatever the server offers; `legacy`: initialize), and print what came back as JSON.

  modern_client.py MODE --url URL [--prefix P]      through a gateway (names carry the prefix P)
  modern_client.py MODE --stdio COMMAND [ARG]...    straight to a stdio server

Names are reported without the prefix, so the two outputs compare equal when everything passes through.
"""
import asyncio
import json
import sys
import anyio
from client_side import CALLBACKS, strip, text
from mcp import Client, StdioServerParameters
from mcp.types import PromptReference, ResourceTemplateReference


async def exercise(client, prefix, logs, listen):
    out = {"protocol": client.protocol_version}
    tools = await client.list_tools()
    out["tools"] = sorted(strip(prefix, t.name) for t in tools.tools)
    out["shout"] = text(await client.call_tool(prefix + "shout", {"text": "hi"}))
    out["logs"] = [str(m.data) for m in logs]
    steps = []

    async def on_progress(progress, total, message):
        steps.append([progress, total, message])

    out["count"] = text(await client.call_tool(prefix + "count", {"n": 5}, progress_callback=on_progress))
    out["progress"] = steps
    for tool, arguments in [("ask_model", {"question": "why?"}), ("ask_user", {}), ("roots", {})]:
        out[tool] = text(await client.call_tool(prefix + tool, arguments))
    prompts = await client.list_prompts()
    out["prompts"] = sorted(strip(prefix, p.name) for p in prompts.prompts)
    got = await client.get_prompt(prefix + "greet", {"person": "Ada", "style": "poetic"})
    out["prompt"] = [m.content.text for m in got.messages]
    done = await client.complete(PromptReference(type="ref/prompt", name=prefix + "greet"),
                                 {"name": "style", "value": "p"})
    out["complete_prompt"] = done.completion.values
    done = await client.complete(ResourceTemplateReference(type="ref/resource", uri="memo://notes/{topic}"),
                                 {"name": "topic", "value": "s"})
    out["complete_resource"] = done.completion.values
    resources = await client.list_resources()
    out["resources"] = sorted(str(r.uri) for r in resources.resources)
    read = await client.read_resource("memo://notes/swap")
    out["note"] = [c.text for c in read.contents]
    try:
        await client.read_resource("memo://nowhere")
        out["missing"] = "answered"
    except Exception:
        out["missing"] = "error"
    if listen:
        # A tool that changes the server's tool list: the listen stream says so.
        async with client.listen(tools_list_changed=True, resource_subscriptions=["memo://readme"]) as sub:
            out["honored"] = bool(getattr(sub.honored, "tools_list_changed", False))
            # A server of the older revisions may not offer resource subscriptions: then only the list changes.
            out["subscribed"] = [str(u) for u in (getattr(sub.honored, "resource_subscriptions", None) or [])]
            await client.call_tool(prefix + "touch", {})
            events = set()
            with anyio.fail_after(10):
                async for event in sub:
                    events.add(type(event).__name__)
                    if len(events) == 1 + len(out["subscribed"]):
                        break
            out["event"] = sorted(events)
    return out


async def main():
    args = sys.argv[1:]
    mode = args[0]
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    listen = "--listen" in args
    logs = []

    async def on_log(params):
        logs.append(params)

    if args[1] == "--url":
        target = args[2]
    else:
        command = [a for a in args[2:] if a != "--listen"]
        target = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(target, mode=mode, logging_callback=on_log, log_level="info", **CALLBACKS) as client:
        out = await exercise(client, prefix, logs, listen)
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
