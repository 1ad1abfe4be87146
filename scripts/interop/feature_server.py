#!/usr/bin/env python3
"""An MCP server written with the official Python SDK (1.x FastMCP or 2.x MCPServer) that offers every
feature the gateway passes through: tools, prompts with argument completion, resources and resource
templates, and logging. Served over stdio. The conformance tests run the same client against it directly
and through the gateway, and compare.

  feature_server.py [--name NAME]     NAME shows in its answers (default "features")
"""
import sys

try:
    from mcp.server.mcpserver import MCPServer as Server, Context  # SDK 2.x
except ImportError:  # SDK 1.x
    from mcp.server.fastmcp import FastMCP as Server, Context
from mcp.types import Completion, PromptReference, ResourceTemplateReference

name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "features"
server = Server(name)


@server.tool()
async def shout(text: str, ctx: Context) -> str:
    """Answers TEXT in capitals, and logs it at info."""
    await ctx.info(f"shouting {text}")
    return text.upper()


@server.prompt()
def greet(person: str, style: str = "plain") -> str:
    """A greeting for PERSON."""
    return f"[{name}] Write a {style} greeting for {person}."


@server.resource("memo://readme", mime_type="text/plain")
def readme() -> str:
    """The server's readme."""
    return f"readme of {name}"


@server.resource("memo://notes/{topic}", mime_type="text/plain")
def note(topic: str) -> str:
    """A note on TOPIC."""
    return f"note on {topic} from {name}"


@server.completion()
async def complete(ref, argument, context):
    if isinstance(ref, PromptReference) and argument.name == "style":
        return Completion(values=[s for s in ["plain", "poetic", "pirate"] if s.startswith(argument.value)])
    if isinstance(ref, ResourceTemplateReference) and argument.name == "topic":
        return Completion(values=[t for t in ["swift", "swap", "sidecar"] if t.startswith(argument.value)])
    return None


server.run()
