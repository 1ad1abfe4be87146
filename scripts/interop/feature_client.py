#!/usr/bin/env python3
"""Exercise every MCP feature with the official Python SDK client, and print what came back as JSON.

  feature_client.py --url URL [--prefix P]       through a gateway (prompt names carry the prefix P)
  feature_client.py --stdio COMMAND [ARG]...     straight to a stdio server

Names and log sources are reported without the gateway's prefix, so the two outputs compare equal when the
gateway passes everything through.
"""
import asyncio
import json
import sys

from client_side import CALLBACKS, strip, text
from mcp import ClientSession, StdioServerParameters
from mcp.types import PromptReference, ResourceTemplateReference


async def exercise(session, prefix, logs, logged):
    out = {}
    init = await session.initialize()
    caps = init.capabilities
    out["capabilities"] = sorted(k for k in ["prompts", "resources", "logging", "completions", "tools"]
                                 if getattr(caps, k, None) is not None)
    prompts = await session.list_prompts()
    out["prompts"] = [{"name": strip(prefix, p.name), "description": p.description,
                       "arguments": [a.name for a in (p.arguments or [])]} for p in prompts.prompts]
    got = await session.get_prompt(prefix + "greet", {"person": "Ada", "style": "poetic"})
    out["prompt"] = [m.content.text for m in got.messages]
    done = await session.complete(PromptReference(type="ref/prompt", name=prefix + "greet"),
                                  {"name": "style", "value": "p"})
    out["complete_prompt"] = done.completion.values
    done = await session.complete(ResourceTemplateReference(type="ref/resource", uri="memo://notes/{topic}"),
                                  {"name": "topic", "value": "s"})
    out["complete_resource"] = done.completion.values
    resources = await session.list_resources()
    out["resources"] = sorted(str(r.uri) for r in resources.resources)
    templates = await session.list_resource_templates()
    items = getattr(templates, "resource_templates", None) or getattr(templates, "resourceTemplates", [])
    out["templates"] = sorted(getattr(t, "uri_template", None) or getattr(t, "uriTemplate") for t in items)
    read = await session.read_resource("memo://readme")
    out["readme"] = [c.text for c in read.contents]
    read = await session.read_resource("memo://notes/swap")
    out["note"] = [c.text for c in read.contents]
    try:
        await session.read_resource("memo://nowhere")
        out["missing"] = "answered"
    except Exception as error:  # the SDK raises on a JSON-RPC error
        out["missing"] = "error"
    if "logging" in out["capabilities"]:
        await session.set_logging_level("info")
    result = await session.call_tool(prefix + "shout", {"text": "hi"})
    out["call"] = text(result)
    # The log message travels on the session's event stream, apart from the call's answer: wait for it.
    try:
        await asyncio.wait_for(logged.wait(), 10)
    except asyncio.TimeoutError:
        pass
    out["logs"] = [str(m.data) for m in logs]
    out["loggers"] = [m.logger for m in logs]
    # What a call can do on its way: progress, and the server asking the client (sampling, elicitation, roots).
    steps = []

    async def on_progress(progress, total, message):
        steps.append([progress, total, message])

    result = await session.call_tool(prefix + "count", {"n": 5}, progress_callback=on_progress)
    out["count"] = text(result)
    out["progress"] = steps
    for tool, arguments in [("ask_model", {"question": "why?"}), ("ask_user", {}), ("roots", {})]:
        result = await session.call_tool(prefix + tool, arguments)
        out[tool] = text(result)
    return out


async def main():
    args = sys.argv[1:]
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    logs = []
    logged = asyncio.Event()

    async def on_log(params):
        logs.append(params)
        logged.set()

    if args[0] == "--url":
        from mcp.client.streamable_http import streamable_http_client
        async with streamable_http_client(args[1]) as streams:
            async with ClientSession(streams[0], streams[1], logging_callback=on_log, **CALLBACKS) as session:
                out = await exercise(session, prefix, logs, logged)
    else:
        from mcp.client.stdio import stdio_client
        command = args[1:]
        async with stdio_client(StdioServerParameters(command=command[0], args=command[1:])) as (read, write):
            async with ClientSession(read, write, logging_callback=on_log, **CALLBACKS) as session:
                out = await exercise(session, prefix, logs, logged)
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
