#!/usr/bin/env python3
"""Talk to a hotswap gateway with the official MCP Python SDK: initialize, list tools, call some.

  mcp_client.py URL [TOOL JSON-ARGS]...   prints {"protocol": ..., "tools": [...], "calls": [{tool, text, isError}]}
"""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main():
    url = sys.argv[1]
    calls = list(zip(sys.argv[2::2], sys.argv[3::2]))
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
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
