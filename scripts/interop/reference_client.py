#!/usr/bin/env python3
"""List everything a server offers and run the given steps with the official Python SDK client; print JSON.

  reference_client.py --url URL --prefix P STEP...     through a gateway (names carry the prefix P)
  reference_client.py --stdio COMMAND [ARG]... -- STEP...  straight to a stdio server

A STEP is `tool:NAME:JSON` or `prompt:NAME:JSON`. Names are reported without the gateway's prefix, so the two
outputs compare equal when the gateway passes the server through. Used with the reference servers
(mcp-server-git, mcp-server-fetch, mcp-server-time), which nobody here wrote.
"""
import asyncio
import json
import sys

from client_side import strip, text
from mcp import ClientSession, StdioServerParameters


def content_text(messages):
    return [getattr(m.content, "text", None) for m in messages]


async def exercise(session, prefix, steps):
    out = {}
    init = await session.initialize()
    caps = init.capabilities
    out["capabilities"] = sorted(k for k in ["prompts", "resources", "tools"] if getattr(caps, k, None) is not None)
    tools = await session.list_tools()
    out["tools"] = sorted(
        [{"name": strip(prefix, t.name), "description": t.description,
          "input": t.model_dump(mode="json", by_alias=True).get("inputSchema")} for t in tools.tools],
        key=lambda t: t["name"])
    out["prompts"] = []
    if "prompts" in out["capabilities"]:
        prompts = await session.list_prompts()
        out["prompts"] = sorted(
            [{"name": strip(prefix, p.name), "description": p.description,
              "arguments": [[a.name, bool(a.required)] for a in (p.arguments or [])]} for p in prompts.prompts],
            key=lambda p: p["name"])
    out["resources"] = []
    if "resources" in out["capabilities"]:
        resources = await session.list_resources()
        out["resources"] = sorted(str(r.uri) for r in resources.resources)
    results = []
    for step in steps:
        kind, name, arguments = step.split(":", 2)
        arguments = json.loads(arguments)
        try:
            if kind == "tool":
                result = await session.call_tool(prefix + name, arguments)
                results.append({"step": step, "error": bool(getattr(result, "is_error", None) or getattr(result, "isError", False)), "text": text(result)})
            else:
                result = await session.get_prompt(prefix + name, arguments)
                results.append({"step": step, "description": result.description,
                                "messages": content_text(result.messages)})
        except Exception as error:  # the SDK raises on a JSON-RPC error: report it, the comparison decides
            results.append({"step": step, "raised": str(error)})
    out["results"] = results
    return out


async def main():
    args = sys.argv[1:]
    if args[0] == "--url":
        prefix = args[3]
        from mcp.client.streamable_http import streamable_http_client
        async with streamable_http_client(args[1]) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                out = await exercise(session, prefix, args[4:])
    else:
        split = args.index("--")
        command, steps = args[1:split], args[split + 1:]
        from mcp.client.stdio import stdio_client
        async with stdio_client(StdioServerParameters(command=command[0], args=command[1:])) as (read, write):
            async with ClientSession(read, write) as session:
                out = await exercise(session, "", steps)
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
