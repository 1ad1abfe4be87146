"""A client of another MCP gateway (mcp-hangar, magg) over Streamable HTTP, with the official MCP SDK.

    peer_client.py URL list                 one tool name per line
    peer_client.py URL call TOOL JSON-ARGS  the call's text content; exit 1 when the result is an error
"""

import asyncio
import json
import sys

from mcp import ClientSession

try:  # the 2.x line
    from mcp.client.streamable_http import streamable_http_client as connect
except ImportError:  # the 1.x line
    from mcp.client.streamable_http import streamablehttp_client as connect


async def main(url, what, tool=None, arguments="{}"):
    async with connect(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            if what == "list":
                for t in (await session.list_tools()).tools:
                    print(t.name)
                return 0
            result = await session.call_tool(tool, json.loads(arguments))
            for c in result.content:
                print(getattr(c, "text", c))
            return 1 if getattr(result, "is_error", getattr(result, "isError", False)) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:])))
