#!/usr/bin/env python3
"""A desktop client's view of `hotswap connect`: the official MCP Python SDK's stdio client starts it as a
server, lists and calls a tool, then (with --pause DIR) writes DIR/phase1 and waits for DIR/go (the test
restarts the gateway meanwhile), calls again, and prints what it saw as JSON, list_changed notices included.

  connect_client.py TOOL HOTSWAP [CONNECT-ARG]... [--pause DIR]
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    args = sys.argv[1:]
    pause = None
    if "--pause" in args:
        at = args.index("--pause")
        pause = args[at + 1]
        args = args[:at] + args[at + 2:]
    tool, command = args[0], args[1:]
    changed = []

    async def on_message(message):
        method = getattr(getattr(message, "root", message), "method", None)
        if method and "list_changed" in method:
            changed.append(method)

    out = {}
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            try:
                init = await session.initialize()
            except Exception as error:  # the SDK raises the JSON-RPC error connect answered with
                print(json.dumps({"error": str(error)}))
                return
            out["server"] = init.server_info.name
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            result = await session.call_tool(tool, {"text": "before"})
            out["before"] = [c.text for c in result.content]
            if pause:
                open(os.path.join(pause, "phase1"), "w").close()
                for _ in range(600):
                    if os.path.exists(os.path.join(pause, "go")):
                        break
                    await asyncio.sleep(0.1)
                result = await session.call_tool(tool, {"text": "after"})
                out["after"] = [c.text for c in result.content]
                out["list_changed"] = sorted(set(changed))
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
