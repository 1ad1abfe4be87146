"""Confirms that magg serves a config: for `hotswap sidecar --confirm-command`.

magg has no HTTP status endpoint, so this asks it over MCP (its own `magg_list_servers` tool) and compares
what is mounted with the signalled config (`{}`): the same enabled servers, each with the same command and
arguments. Exit 0 when they match; 1 (with what differs on stderr) while they do not.

    hotswap sidecar ... --signal sighup --process-name magg \
        --confirm-command "/opt/magg/bin/python scripts/peers/magg-confirm.py http://127.0.0.1:8000/mcp {}"

Run it with the Python that has magg (and so the MCP SDK) installed.
"""

import asyncio
import json
import sys

from mcp import ClientSession

try:  # the MCP SDK's 1.x line, which magg 1.3 installs
    from mcp.client.streamable_http import streamablehttp_client as connect
except ImportError:  # the 2.x line
    from mcp.client.streamable_http import streamable_http_client as connect


async def mounted(url):
    async with connect(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            result = await session.call_tool("magg_list_servers", {})
            if getattr(result, "is_error", getattr(result, "isError", False)):
                raise RuntimeError(f"magg_list_servers failed: {result.content}")
            # magg answers {"errors": ..., "output": [...]} as the call's text.
            answer = json.loads(result.content[0].text)
            return {s["name"]: s for s in answer.get("output") or [] if s.get("mounted")}


def main(url, path):
    wanted = {name: spec for name, spec in json.load(open(path)).get("servers", {}).items()
              if spec.get("enabled", True)}
    try:
        served = asyncio.run(mounted(url))
    except Exception as e:
        return [f"cannot ask magg at {url}: {e}"]
    problems = []
    for name in sorted(set(wanted) - set(served)):
        problems.append(f"server {name!r} is not mounted yet")
    for name in sorted(set(served) - set(wanted)):
        problems.append(f"server {name!r} is still mounted")
    for name in sorted(set(wanted) & set(served)):
        # What magg reports of each server (its list leaves some keys out, args among them).
        for key in ("command", "args", "uri", "prefix"):
            if key in served[name] and wanted[name].get(key) != served[name][key]:
                problems.append(f"server {name!r}: {key} is {served[name].get(key)!r}, not {wanted[name].get(key)!r}")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: magg-confirm.py MCP-URL CONFIG.json")
    problems = main(sys.argv[1], sys.argv[2])
    for problem in problems:
        print(problem, file=sys.stderr)
    sys.exit(1 if problems else 0)
