#!/usr/bin/env python3
"""An MCP server written with the official Python SDK (1.x FastMCP or 2.x MCPServer) that offers every
feature the gateway passes through: tools, prompts with argument completion, resources and resource
templates, and logging. Served over stdio. The conformance tests run the same client against it directly
and through the gateway, and compare.

  feature_server.py [--name NAME]     NAME shows in its answers (default "features")
  feature_server.py --modern-only     (SDK 2.x) speak only revision 2026-07-28: `initialize` is refused
  feature_server.py --http PORT [--port-file F] [--tls CERT KEY] [--token T]
                                      Streamable HTTP at /mcp instead of stdio (PORT 0: any, written to F),
                                      over TLS, with a bearer token required

Tools beyond `shout` exercise what a call can do on its way: `count` reports progress, `ask_model` asks the
client for a sampling, `ask_user` elicits, `roots` lists the client's roots, and `wait` waits until it is
cancelled (it writes "cancelled" to --cancel-log PATH when it is).
"""
import sys
import warnings

import anyio
from typing import Annotated

from pydantic import BaseModel, Field

try:
    from mcp.server.mcpserver import MCPServer as Server, Context  # SDK 2.x
except ImportError:  # SDK 1.x
    from mcp.server.fastmcp import FastMCP as Server, Context
from mcp.types import Completion, PromptReference, ResourceTemplateReference, SamplingMessage, TextContent

warnings.simplefilter("ignore")  # sampling is deprecated in the newest revision, and still offered by clients

name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "features"
cancel_log = sys.argv[sys.argv.index("--cancel-log") + 1] if "--cancel-log" in sys.argv else None
server = Server(name)


@server.tool()
async def shout(text: str, ctx: Context) -> str:
    """Answers TEXT in capitals, and logs it at info."""
    await ctx.info(f"shouting {text}")
    return text.upper()


@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Counts to N, reporting progress at each step."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"step {i}")
    return f"counted to {n}"


try:  # SDK 2.x: the same tools through Resolve markers, which work in both eras (2026-07-28 asks the client
    # with an input_required result and a retry; older revisions with requests during the call)
    from mcp.server.mcpserver import Elicit, ListRoots, Resolve, Sample
    from mcp.types import CreateMessageResult, ListRootsResult
except ImportError:
    Resolve = None


class Answer(BaseModel):
    colour: str


if Resolve is not None:
    def sample_question() -> Sample:
        return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="why?"))], max_tokens=50)

    def elicit_colour() -> Elicit[Answer]:
        return Elicit("Which colour?", Answer)

    def client_roots() -> ListRoots:
        return ListRoots()

    @server.tool()
    async def ask_model(question: str, said: Annotated[CreateMessageResult, Resolve(sample_question)]) -> str:
        """Asks the client's model (sampling) and answers with what it said."""
        return f"model said: {said.content.text}"

    @server.tool()
    async def ask_user(answer: Annotated[Answer, Resolve(elicit_colour)]) -> str:
        """Asks the user for a colour (elicitation)."""
        return f"accept: {answer.colour}"

    @server.tool()
    async def roots(listed: Annotated[ListRootsResult, Resolve(client_roots)]) -> str:
        """The client's roots."""
        return " ".join(str(r.uri) for r in listed.roots)
else:
    @server.tool()
    async def ask_model(question: str, ctx: Context) -> str:
        """Asks the client's model QUESTION (sampling) and answers with what it said."""
        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=question))],
            max_tokens=50)
        return f"model said: {result.content.text}"

    @server.tool()
    async def ask_user(ctx: Context) -> str:
        """Asks the user for a colour (elicitation)."""
        result = await ctx.elicit("Which colour?", Answer)
        return f"{result.action}: {result.data.colour if result.data else ''}"

    @server.tool()
    async def roots(ctx: Context) -> str:
        """The client's roots."""
        result = await ctx.session.list_roots()
        return " ".join(str(r.uri) for r in result.roots)


@server.tool()
async def in_region(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], text: str) -> str:
    """Answers TEXT tagged with REGION, an argument 2026-07-28 clients also send as the Mcp-Param-Region header."""
    return f"{region}: {text}"


@server.tool()
async def touch(ctx: Context) -> str:
    """Tells the client the tool list changed, and that memo://readme was updated."""
    if getattr(ctx, "protocol_version", None) in ("2026-07-28",):  # SDK 2.x: to subscriptions/listen streams
        await ctx.notify_tools_changed()
        await ctx.notify_resource_updated("memo://readme")
    else:  # an initialized session (the only kind in SDK 1.x)
        await ctx.session.send_tool_list_changed()
        await ctx.session.send_resource_updated("memo://readme")
    return "touched"


@server.tool()
async def wait(ctx: Context) -> str:
    """Waits until cancelled."""
    if cancel_log:
        with open(cancel_log, "a") as f:
            f.write("started\n")
    try:
        await ctx.report_progress(0, None, "waiting")
        await anyio.Event().wait()  # an event nobody sets: only cancellation ends this
    except anyio.get_cancelled_exc_class():
        if cancel_log:
            with open(cancel_log, "a") as f:
                f.write("cancelled\n")
        raise
    return "not cancelled"


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


if "--modern-only" in sys.argv:  # SDK 2.x: a server that speaks only 2026-07-28 (refuses `initialize` with -32022)
    import mcp.server.lowlevel.server as lowlevel
    from mcp.server import runner

    async def modern_only(server, read_stream, write_stream, *, lifespan_state, raise_exceptions=False, **_):
        try:
            await runner._serve_modern_stream(
                server, read_stream, write_stream, lifespan_state=lifespan_state, raise_exceptions=raise_exceptions)
        finally:
            await write_stream.aclose()

    lowlevel.serve_dual_era_loop = modern_only


def serve_http(port_arg):
    """Streamable HTTP at http(s)://127.0.0.1:PORT/mcp (PORT 0: any free port, written to --port-file)."""
    import socket
    import uvicorn

    app = server.streamable_http_app()
    token = sys.argv[sys.argv.index("--token") + 1] if "--token" in sys.argv else None
    if token:
        inner = app

        async def app(scope, receive, send):  # a bearer token, checked before the MCP app sees the request
            if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token"})
                return
            await inner(scope, receive, send)

    tls = {}
    if "--tls" in sys.argv:
        at = sys.argv.index("--tls")
        tls = {"ssl_certfile": sys.argv[at + 1], "ssl_keyfile": sys.argv[at + 2]}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(port_arg)))
    if "--port-file" in sys.argv:
        with open(sys.argv[sys.argv.index("--port-file") + 1], "w") as f:
            f.write(str(sock.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **tls)
    uvicorn.Server(config).run(sockets=[sock])


if "--http" in sys.argv:
    serve_http(sys.argv[sys.argv.index("--http") + 1])
else:
    server.run()
