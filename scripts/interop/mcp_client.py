#!/usr/bin/env python3
"""Talk to a hotswap gateway with the official MCP Python SDK: initialize, list tools, call some.

  mcp_client.py URL [--wait-for TOOL,TOOL] [TOOL JSON-ARGS]...
      prints {"protocol": ..., "tools": [...], "calls": [{tool, text, isError}]}

--wait-for lists again (for up to 30 s) until those tools are there, as a client does when the gateway's
notifications/tools/list_changed says a server that was still starting has arrived.
"""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main():
    url = sys.argv[1]
    rest = sys.argv[2:]
    wait_for = []
    if rest[:1] == ["--wait-for"]:
        wait_for = rest[1].split(",")
        rest = rest[2:]
    calls = list(zip(rest[::2], rest[1::2]))
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            deadline = asyncio.get_running_loop().time() + 30
            while any(w not in [t.name for t in tools.tools] for w in wait_for):
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
                tools = await session.list_tools()
            out = {
                "protocol": str(init.protocol_version),
                "server": init.server_info.name,
                "tools": [t.name for t in tools.tools],
                "calls": [],
            }
            for name, args in calls:
                result = await session.call_tool(name, json.loads(args))
                text = "".join(getattr(c, "text", "") for c in result.content)
                out["calls"].append({"tool": name, "text": text, "isError": bool(result.is_error)})
    print(json.dumps(out))


asyncio.run(main())
