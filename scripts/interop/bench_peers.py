"""hotswap beside mcp-hangar and magg: hot reload and steady serving, one interleaved run, a column per system.

The systems (--systems): `hotswap` (the gateway's own watcher), `hotswap-sidecar` (`hotswap gateway --no-watch`
with `hotswap sidecar` watching and pushing to its control socket), `hangar` and `magg` (each with its own
watcher). Two more can be asked for: `hangar-sidecar` and `magg-sidecar`, the peer with its watcher off and
`hotswap sidecar` in front (signalled by mcp-hangar's reload API, magg's SIGHUP), as BENCHMARKS.md's older table.
Every system serves the same backend: a stdio MCP server written with the SDK's FastMCP (tools `echo` and
`sleep`), run by that system's venv python. A client reaches a backend's tool the way each system exposes it:
hotswap `SERVER__TOOL`, magg `SERVER_TOOL` (its prefix), mcp-hangar `hangar_call` naming the server.

The rows (--only takes their names or numbers), each run for every system in turn before the next:

  1 detect      an edit adding a server (in place, by rename, a Kubernetes ConfigMap update): hits of --edits, p50
                time from the write until the new server's tool is listed (mcp-hangar: its REST server list) and
                a call of it succeeds
  2 inflight    a slow call (`sleep`) on a server while the catalog modifies it (new args), then removes it:
                whether the call still gets its answer, and when the change was seen by other calls
  3 reloads     a loop of calls to an unchanged server while a second one is added and removed 20 times (each
                change seen before the next): failed calls, p50/p99, against the same loop without edits
  4 latency     p50 of a call through the gateway (wrk, one connection) and direct to the backend over stdio
  5 throughput  calls/s with 8 concurrent clients (wrk: 8 threads, a session each)
  6 idle        CPU (% of a core, utime+stime from /proc) and RSS of the gateway process, plus the sidecar's
                when there is one; the backends (the gateway's children) are not counted
  7 start       from the gateway's process start until a tools/call through it succeeds (p50)
  8 invalid     a syntax error, a server without a command, an unknown key: whether the gateway kept serving
                the old catalog ("kept"), applied the bad one ("applied broken") or lost the old tools

Missing something is a result, not an error: the script exits non-zero only when the harness itself fails.
Run by scripts/bench-peers (release build, the venvs scripts/test makes, wrk).
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

import anyio
from bench_common import listening, machine_line
from mcp import ClientSession

try:  # the 2.x line
    from mcp.client.streamable_http import streamable_http_client as connect
except ImportError:  # the 1.x line
    from mcp.client.streamable_http import streamablehttp_client as connect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOTSWAP = os.environ.get("HOTSWAP_BIN", os.path.join(ROOT, ".build/release/hotswap"))
HANGAR = os.environ.get("HOTSWAP_HANGAR", os.path.join(ROOT, ".venv-hangar/bin/mcp-hangar"))
MAGG_PYTHON = os.environ.get("HOTSWAP_MAGG_PYTHON", os.path.join(ROOT, ".venv-magg/bin/python"))
MAGG = os.path.join(os.path.dirname(MAGG_PYTHON), "magg")
PYTHONS = {  # the python each system runs the backend with: its own venv's (hotswap has none: the main one)
    "hotswap": os.path.join(ROOT, ".venv/bin/python"),
    "hangar": os.path.join(os.path.dirname(HANGAR), "python"),
    "magg": MAGG_PYTHON,
}
TICKS = os.sysconf("SC_CLK_TCK")
logging.getLogger("mcp").setLevel(logging.ERROR)  # the SDK warns of tools it no longer sees listed: expected here
PROTOCOL = "2025-06-18"

# The backend every system serves; argv[1] is its generation, which `echo` answers with (a modification is a
# new generation). Tools are async so a `sleep` never holds up other calls.
BACKEND = '''\
import asyncio
import sys

try:  # the 1.x line
    from mcp.server.fastmcp import FastMCP
except ImportError:  # the 2.x line renamed FastMCP
    from mcp.server.mcpserver import MCPServer as FastMCP

GENERATION = sys.argv[1] if len(sys.argv) > 1 else "g0"
server = FastMCP("bench-backend")


@server.tool()
async def echo(text: str) -> str:
    """Answers at once with this process's generation and the text."""
    return f"{GENERATION} {text}"


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after the given seconds."""
    await asyncio.sleep(seconds)
    return f"{GENERATION} slept {seconds}"


server.run()
'''

# wrk: tools/call with scripts/load/call.lua (shared with scripts/bench-load), one MCP session per wrk thread.
WRK_LUA = os.path.join(ROOT, "scripts/load/call.lua")


class PeerFailure(Exception):
    """A system did not do what a row needs (did not start, never applied a valid edit): a result, not a bug."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p(values, q):
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds):
    return f"{seconds * 1e3:.1f}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


# ---------------------------------------------------------------------------------------------------------------
# The systems: how each is configured, started, called and observed.


class System:
    """One column. `peer` is the gateway (hotswap, hangar, magg); `sidecar` whether hotswap sidecar watches."""

    settle = 1.0  # seconds after the first call before edits
    react = 1.5  # longer than it takes this system to act on an edit (how long to wait for an invalid edit)

    def __init__(self, key, peer, sidecar):
        self.key, self.peer, self.sidecar = key, peer, sidecar
        self.python = PYTHONS[peer]

    def args(self, generation):
        return [self.backend, generation]

    def tool(self, server, tool, arguments, timeout):
        """The tools/call name and arguments that reach `tool` of `server` through this gateway."""
        return self.tool_name(server, tool), arguments

    def unwrap(self, is_error, text):
        """(succeeded, the backend's answer text) from a tools/call result."""
        return not is_error, text

    async def present(self, client, server):
        """Whether this gateway serves `server` now (its tools are listed)."""
        return self.tool_name(server, "echo") in await client.tools()


class Hotswap(System):
    filename = "catalog.yaml"

    async def configured(self, client, server):
        """Whether `server` is in the live catalog (its admin API's server list), served or not."""
        def servers():
            with urllib.request.urlopen(f"http://127.0.0.1:{client.inst.port}/servers", timeout=5) as r:
                return {s["id"] for s in json.load(r)["servers"]}
        return server in await asyncio.to_thread(servers)

    def tool_name(self, server, tool):
        return f"{server}__{tool}"

    def render(self, servers, defect=None):
        lines = ["version: 1", "servers:"]
        for sid, generation in servers.items():
            bad = defect[1] if defect and defect[0] == sid else None
            command = "" if bad == "no-command" else f"command: {self.python}, "
            lines += [f"  - id: {sid}",
                      f"    runtime: {{type: local-process, {command}args: [{', '.join(self.args(generation))}]}}"]
            if bad == "unknown-key":
                lines.append("    evn: {GREETING: hello}")  # a typo of a key it does not have
        text = "\n".join(lines) + "\n"
        return text + "broken: [unclosed\n" if defect and defect[1] == "syntax" else text

    def gateway_argv(self, inst):
        where = (["--config", inst.directory, "--file", self.filename] if inst.method == "configmap"
                 else ["--config", inst.catalog.path])
        return ([HOTSWAP, "gateway"] + where + ["--listen", f"127.0.0.1:{inst.port}", "--control-socket", inst.socket]
                + (["--no-watch"] if self.sidecar else []))

    def sidecar_argv(self, inst):
        watch = (["--watch", inst.directory, "--file", self.filename] if inst.method == "configmap"
                 else ["--watch", inst.catalog.path])
        return [HOTSWAP, "sidecar", "--no-listen", "--log-level", "warning", "--socket", inst.socket] + watch


class Hangar(System):
    filename = "config.yaml"
    react = 7.0  # its watcher, as PyPI installs it (no watchdog), polls every 5 s

    def tool(self, server, tool, arguments, timeout):
        calls = [{"mcp_server": server, "tool": tool, "arguments": arguments}]
        return "hangar_call", {"calls": calls, "timeout": max(1, min(300, round(timeout)))}

    def unwrap(self, is_error, text):
        try:
            batch = json.loads(text)
            result = batch["results"][0]
            if batch.get("succeeded") == 1:
                return True, result["result"]["content"][0]["text"]
            return False, result.get("error") or text
        except (ValueError, KeyError, IndexError, TypeError):
            return False, text

    async def present(self, client, server):
        return server in (await asyncio.to_thread(hangar_servers, client.inst.port) or set())

    configured = present  # its REST list is its config's servers

    def render(self, servers, defect=None):
        lines = ["mcp_servers:"]
        for sid, generation in servers.items():
            bad = defect[1] if defect and defect[0] == sid else None
            lines += [f"  {sid}:", "    mode: subprocess"]
            if bad != "no-command":
                lines.append(f"    command: [{', '.join([self.python] + self.args(generation))}]")
            if bad == "unknown-key":
                lines.append("    evn: {GREETING: hello}")
        lines += ["config_reload:", f"  enabled: {'false' if self.sidecar else 'true'}", "event_store:", "  driver: memory",
                  # Its command bus allows 10 calls/s (burst 20) by default: lifted, or it would measure that.
                  "rate_limit:", "  rps: 100000", "  burst: 100000"]
        text = "\n".join(lines) + "\n"
        return text + "broken: [unclosed\n" if defect and defect[1] == "syntax" else text

    def gateway_argv(self, inst):
        return [HANGAR, "--config", inst.catalog.path, "serve", "--http", "--host", "127.0.0.1", "--port", str(inst.port)]

    def sidecar_argv(self, inst):
        watch = (["--watch", inst.directory, "--file", self.filename] if inst.method == "configmap"
                 else ["--watch", inst.catalog.path])
        return ([HOTSWAP, "sidecar", "--no-listen", "--log-level", "warning"] + watch
                + ["--format", "yaml", "--signal", "http", "--url", f"http://127.0.0.1:{inst.port}/api/config/reload",
                   "--reply-confirms"])


class Magg(System):
    filename = "config.json"
    settle = 3.0  # magg loses reloads in its first seconds
    react = 3.0

    def tool_name(self, server, tool):
        return f"{server}_{tool}"  # the server's prefix, magg's separator

    async def configured(self, client, server):
        """Whether `server` is in its live config (its own magg_list_servers tool), mounted or not."""
        result = await client.session.call_tool("magg_list_servers", {})
        return server in {s["name"] for s in json.loads(result.content[0].text).get("output") or []}

    def render(self, servers, defect=None):
        entries = {}
        for sid, generation in servers.items():
            bad = defect[1] if defect and defect[0] == sid else None
            entry = {"source": f"file://{self.backend}", "command": self.python, "args": self.args(generation),
                     "prefix": sid}
            if bad == "no-command":
                del entry["command"]
            if bad == "unknown-key":
                entry["evn"] = {"GREETING": "hello"}
            entries[sid] = entry
        config = {"servers": entries}
        if self.sidecar:  # its watcher off without auto_reload: false (which breaks removals on SIGHUP)
            config.update(reload_use_watchdog=False, reload_poll_interval=1e9)
        text = json.dumps(config, indent=1) + "\n"
        return text.rstrip()[:-1] + "\n" if defect and defect[1] == "syntax" else text  # the last } left out

    def gateway_argv(self, inst):
        return [MAGG, "--config", inst.catalog.path, "serve", "--http", "--host", "127.0.0.1", "--port", str(inst.port),
                "--no-banner"]

    def sidecar_argv(self, inst):
        watch = (["--watch", inst.directory, "--file", self.filename] if inst.method == "configmap"
                 else ["--watch", inst.catalog.path])
        pid_file = os.path.join(inst.directory, "magg.pid")
        with open(pid_file, "w") as f:
            f.write(str(inst.gateway.pid))
        return ([HOTSWAP, "sidecar", "--no-listen", "--log-level", "warning"] + watch
                + ["--format", "json", "--signal", "sighup", "--pid-file", pid_file])


SYSTEMS = {
    "hotswap": lambda: Hotswap("hotswap", "hotswap", False),
    "hotswap-sidecar": lambda: Hotswap("hotswap-sidecar", "hotswap", True),
    "hangar": lambda: Hangar("hangar", "hangar", False),
    "magg": lambda: Magg("magg", "magg", False),
    "hangar-sidecar": lambda: Hangar("hangar-sidecar", "hangar", True),
    "magg-sidecar": lambda: Magg("magg-sidecar", "magg", True),
}
PEERS = ("hangar", "magg")  # the ratio's "best peer" (not the peers with hotswap's sidecar in front)


def hangar_servers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/mcp_servers/", timeout=2) as r:
            return {s["mcp_server_id"] for s in json.load(r)["mcp_servers"]}
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------------------------
# A running system: its directory, catalog, processes.


class Catalog:
    """The mounted catalog, changed the way a user or the kubelet changes it."""

    def __init__(self, directory, name, method):
        self.directory, self.name, self.method = directory, name, method
        self.generation = 0
        self.path = os.path.join(directory, name)  # a ConfigMap's KEY -> ..data/KEY symlink, or the file

    def write(self, text):
        self.generation += 1
        if self.method == "in-place":
            with open(self.path, "w") as f:
                f.write(text)
        elif self.method == "rename":
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, self.path)
        else:  # the kubelet's AtomicWriter: a new timestamped dir, ..data swapped by rename, the old dir removed
            stamp = f"..2026_11_22_00_00_00.{self.generation:09d}"
            os.mkdir(os.path.join(self.directory, stamp))
            with open(os.path.join(self.directory, stamp, self.name), "w") as f:
                f.write(text)
            data = os.path.join(self.directory, "..data")
            previous = os.readlink(data) if os.path.islink(data) else None
            os.symlink(stamp, os.path.join(self.directory, "..data_tmp"))
            os.rename(os.path.join(self.directory, "..data_tmp"), data)
            if not os.path.islink(self.path):
                os.symlink(f"..data/{self.name}", self.path)
            if previous:
                shutil.rmtree(os.path.join(self.directory, previous))


def descendants(pids):
    """Every process below the given ones (from /proc), so that backends in process groups of their own go too."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, queue = [], list(pids)
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))


def uss_kib(pid):
    """Unique set size: the pages only this process maps (its heap, stacks, written data), what stopping it frees.
    Not PSS: in this interleaved run the other hotswap column runs the same binary, so a proportional split
    would hand part of each column's pages to the other."""
    rollup = open(f"/proc/{pid}/smaps_rollup").read()
    return sum(int(re.search(rf"{field}:\s+(\d+)", rollup).group(1)) for field in ("Private_Clean", "Private_Dirty"))


class Instance:
    """A system started in a directory of its own: the gateway (and the sidecar), its catalog, one log."""

    def __init__(self, system, work, servers, method="in-place", tag="run"):
        self.system, self.work, self.method, self.tag = system, work, method, tag
        self.servers = dict(servers)
        self.gateway = self.sidecar = self.log = None

    @property
    def processes(self):
        return [x for x in (self.gateway, self.sidecar) if x]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self):
        """Starts the gateway and waits until it listens (the sidecar after it); returns its start time."""
        self.directory = tempfile.mkdtemp(prefix=f"{self.system.key}-{self.tag}-", dir=self.work)
        self.system.backend = os.path.join(self.work, "backend.py")
        self.catalog = Catalog(self.directory, self.system.filename, self.method)
        self.catalog.write(self.system.render(self.servers))
        self.port = free_port()
        self.socket = os.path.join(self.directory, "control.sock")
        self.log = open(os.path.join(self.directory, "gateway.log"), "w")
        env = dict(os.environ, NO_COLOR="1", HOME=self.directory)
        started = time.perf_counter()
        self.gateway = subprocess.Popen(self.system.gateway_argv(self), stdout=self.log, stderr=self.log,
                                        cwd=self.directory, env=env, start_new_session=True)
        deadline = time.time() + 60
        while not listening(self.port):
            if self.gateway.poll() is not None:
                raise PeerFailure(f"{self.system.key} exited ({self.gateway.returncode}) at start; log: {self.log.name}")
            if time.time() > deadline:
                raise PeerFailure(f"{self.system.key} did not listen within 60 s; log: {self.log.name}")
            time.sleep(0.02)
        if self.system.sidecar:
            self.sidecar = subprocess.Popen(self.system.sidecar_argv(self), stdout=self.log, stderr=self.log,
                                            cwd=self.directory, env=env, start_new_session=True)
        return started

    def write(self, servers, defect=None):
        """Writes the catalog (by this instance's method); `servers` becomes what it should serve."""
        self.catalog.write(self.system.render(servers, defect))
        if not defect:
            self.servers = dict(servers)

    def stop(self):
        """SIGTERM to each process group, SIGKILL after 10 s, then whatever ran below them (backends)."""
        below = descendants([x.pid for x in self.processes if x.poll() is None])
        for x in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(x.pid, signal.SIGTERM)
        for x in self.processes:
            try:
                x.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(x.pid, signal.SIGKILL)
                x.wait()
        for pid in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.log:
            self.log.close()
        self.gateway = self.sidecar = None


# ---------------------------------------------------------------------------------------------------------------
# Clients: the official SDK (edits, in-flight calls), plain HTTP (start), wrk (latency, throughput).


class Client:
    """One MCP session with a system's /mcp, the official SDK over Streamable HTTP."""

    def __init__(self, inst):
        self.inst, self.system = inst, inst.system

    async def __aenter__(self):
        self.stack = contextlib.AsyncExitStack()
        try:
            streams = await self.stack.enter_async_context(connect(self.inst.url))
            self.session = await self.stack.enter_async_context(ClientSession(streams[0], streams[1]))
            with anyio.fail_after(30):  # (not asyncio.wait_for: the SDK's cancel scopes must stay in this task)
                await self.session.initialize()
        except BaseException as e:
            with contextlib.suppress(BaseException):
                await self.stack.aclose()
            raise PeerFailure(f"{self.system.key}: no MCP session: {e!r}") from None
        return self

    async def __aexit__(self, *exc):
        with contextlib.suppress(Exception):
            await self.stack.aclose()

    async def call(self, server, tool, arguments, timeout=15.0):
        """(succeeded, the backend's answer or the error) of one call of `tool` on `server`."""
        name, args = self.system.tool(server, tool, arguments, timeout)
        try:
            result = await self.session.call_tool(name, args, read_timeout_seconds=timeout)
        except Exception as e:
            return False, f"{type(e).__name__}: {e}"
        text = getattr(result.content[0], "text", "") if result.content else ""
        return self.system.unwrap(getattr(result, "is_error", getattr(result, "isError", False)), text)

    async def tools(self):
        try:
            with anyio.fail_after(15):
                return {t.name for t in (await self.session.list_tools()).tools}
        except Exception:
            return set()


async def wait_callable(client, server, generation=None, timeout=30.0, interval=0.02):
    """Seconds until `server` is listed and a call of its `echo` answers (from `generation`); None past timeout."""
    begun = time.perf_counter()
    while time.perf_counter() - begun < timeout:
        if await client.system.present(client, server):
            ok, text = await client.call(server, "echo", {"text": "hello"}, timeout=10)
            if ok and (generation is None or text.startswith(generation + " ")):
                return time.perf_counter() - begun
        await asyncio.sleep(interval)
    return None


async def wait_gone(client, server, timeout=30.0, interval=0.02):
    """Seconds until `server` is no longer listed; None past timeout."""
    begun = time.perf_counter()
    while time.perf_counter() - begun < timeout:
        if not await client.system.present(client, server):
            return time.perf_counter() - begun
        await asyncio.sleep(interval)
    return None


async def converge(inst, client, servers, timeout=40.0):
    """Writes `servers` (unless served already) and waits until each is callable at its generation and every other
    server is gone; a system that does not get there has failed the row."""
    gone = [s for s in inst.servers if s not in servers]
    if servers != inst.servers:
        inst.write(servers)
    for sid, generation in servers.items():
        if await wait_callable(client, sid, generation, timeout, interval=0.1) is None:
            raise PeerFailure(f"{inst.system.key} did not serve {sid} ({generation}) within {timeout:g} s of a valid edit")
    for sid in gone:
        if await wait_gone(client, sid, timeout, interval=0.1) is None:
            raise PeerFailure(f"{inst.system.key} still served {sid} {timeout:g} s after a valid edit removed it")


def rpc(port, body, session=None, timeout=10):
    """One JSON-RPC POST to /mcp with plain HTTP: (the session id, the answer to `body`, or None)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": PROTOCOL}
    if session:
        headers["Mcp-Session-Id"] = session
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as r:
        session = r.headers.get("Mcp-Session-Id") or session
        raw = r.read().decode()
        if "text/event-stream" in (r.headers.get("Content-Type") or ""):
            for line in raw.splitlines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("id") == body.get("id"):
                        return session, message
            return session, None
        return session, json.loads(raw) if raw.strip() else None


def rpc_session(port):
    """initialize and notifications/initialized: a session id for plain HTTP and wrk."""
    session, _ = rpc(port, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench-peers", "version": "1"}}})
    rpc(port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def rpc_call(inst, session, server, tool, arguments, timeout=10):
    """(succeeded, text) of a tools/call with plain HTTP."""
    name, args = inst.system.tool(server, tool, arguments, timeout)
    _, answer = rpc(inst.port, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                "params": {"name": name, "arguments": args}}, session, timeout)
    result = (answer or {}).get("result")
    if not result:
        return False, json.dumps(answer)
    content = result.get("content") or [{}]
    return inst.system.unwrap(result.get("isError", False), content[0].get("text", ""))


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(inst, work, threads, seconds):
    """wrk against a system: calls of server `a`'s echo, one session per thread; calls/s, p50, p99, bad."""
    sessions = ",".join(rpc_session(inst.port) or "-" for _ in range(threads))  # mcp-hangar gives none
    name, args = inst.system.tool("a", "echo", {"text": "hello"}, 30)
    mark = 'succeeded\\": 1' if inst.system.peer == "hangar" else '"result"'  # hangar's answer is JSON in the text
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{threads}", f"-d{seconds}s", "--latency", "--timeout", "10s",
                          "-s", WRK_LUA, f"http://127.0.0.1:{inst.port}/mcp", "--", sessions, "tools/call",
                          json.dumps({"name": name, "arguments": args}), mark],
                         capture_output=True, text=True, check=True).stdout

    def latency(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    bad = int(re.search(r"^BAD (\d+)", out, re.M).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        bad += sum(int(n) for n in re.findall(r"\d+", errors.group(1)))
    return {"calls": int(re.search(r"(\d+) requests in", out).group(1)),
            "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": latency("50"), "p99": latency("99"), "bad": bad}


def direct_p50(python, backend, calls):
    """p50 of tools/call straight to the backend over stdio (newline-delimited JSON-RPC), no gateway."""
    server = subprocess.Popen([python, backend, "g1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def ask(message):
        server.stdin.write(json.dumps(message) + "\n")
        server.stdin.flush()
        if "id" not in message:
            return None
        while True:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError("the backend closed its stdout")
            answer = json.loads(line)
            if answer.get("id") == message["id"]:
                return answer
    try:
        ask({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench-peers", "version": "1"}}})
        ask({"jsonrpc": "2.0", "method": "notifications/initialized"})
        times = []
        for n in range(1, calls + 50):
            begun = time.perf_counter()
            answer = ask({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": "hello"}}})
            if "result" not in answer:
                raise RuntimeError(f"the backend answered {answer}")
            if n > 50:  # warm-up first
                times.append(time.perf_counter() - begun)
        return statistics.median(times)
    finally:
        server.kill()
        server.wait()


# ---------------------------------------------------------------------------------------------------------------
# The table.


class Cell:
    """What one system got in one row: the text shown, and the number the ratio compares (None: not compared)."""

    def __init__(self, text, score=None):
        self.text, self.score = text, score


class Table:
    def __init__(self, systems):
        self.systems = systems
        self.rows = []  # (label, {key: Cell}, better, load)
        self.notes = []
        self.harness_errors = 0

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)
        return f"[{self.notes.index(text) + 1}]"

    def failed(self, system, error):
        """The cell of a system that raised: a peer's failure is a result, anything else the harness's."""
        if isinstance(error, PeerFailure):
            return Cell("failed" + self.note(str(error)))
        self.harness_errors += 1
        traceback.print_exception(error)
        return Cell("ERROR" + self.note(f"harness error ({system.key}): {error!r}"))

    def header(self, ratio=False):
        head = f"{'':42}" + "".join(f"{s.key:>24}" for s in self.systems)
        return head + (f"{'ratio':>9}" if ratio else "") + "  load"

    def line(self, row, ratio=False):
        label, cells, better, load = row
        text = f"{label:42}" + "".join(f"{cells.get(s.key, Cell('-')).text:>24}" for s in self.systems)
        return text + (f"{self.ratio(cells, better):>9}" if ratio else "") + f"  {load:.2f}"

    def ratio(self, cells, better):
        """hotswap (the better of its two modes) over the best peer."""
        if better is None:
            return "-"
        pick = min if better == "low" else max
        ours = [c.score for k, c in cells.items() if k.startswith("hotswap") and c.score is not None]
        theirs = [c.score for k, c in cells.items() if k in PEERS and c.score is not None]
        if not ours or not theirs or pick(theirs) == 0:
            return "-"
        return f"{pick(ours) / pick(theirs):.2f}x"

    def add(self, label, cells, better):
        row = (label, cells, better, os.getloadavg()[0])
        self.rows.append(row)
        print(self.line(row), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The experiments. Each returns the cells of one system.


async def detect(inst, args):
    """Row 1: servers s1..sN added one edit at a time; seconds from each write until s<n> is listed and callable."""
    times = []
    async with Client(inst) as client:
        for n in range(1, args.edits + 1):
            inst.write(dict(inst.servers, **{f"s{n}": "g1"}))
            times.append(await wait_callable(client, f"s{n}", timeout=args.timeout))
            if n < args.edits:
                await asyncio.sleep(1.2)  # past debounces and rate limits
    served = [t for t in times if t is not None]
    p50 = f"{statistics.median(served):.2f} s" if served else "-"
    return Cell(f"{len(served)}/{len(times)} {p50}", statistics.median(served) if len(served) == len(times) else None)


async def inflight(inst, args, table):
    """Row 2: `sleep` runs on server `mod` and on server `rm` while one edit modifies `mod` (new args) and removes
    `rm`: did each call get its answer? Beside: when other calls saw the change ("new"/"gone" after the write, or
    "after": only once the slow call had answered, as when a gateway holds the reload until its calls end)."""
    async with Client(inst) as watcher:
        await converge(inst, watcher, {"a": "g1", "mod": "g1", "rm": "g1"})
        calls, answered, seen_at = {}, {}, {}
        async with Client(inst) as caller_mod, Client(inst) as caller_rm:
            for server, caller in (("mod", caller_mod), ("rm", caller_rm)):
                calls[server] = asyncio.create_task(caller.call(server, "sleep", {"seconds": args.slow},
                                                                timeout=args.slow + 5))
                calls[server].add_done_callback(lambda _, server=server: answered.setdefault(server, time.perf_counter()))
            await asyncio.sleep(0.5)  # the calls are under way
            inst.write({"a": "g1", "mod": "g2"})
            written = time.perf_counter()
            # Until both changes are seen, or 10 s past the slow calls' end.
            while len(seen_at) < 2 and not (len(answered) == 2 and time.perf_counter() - max(answered.values()) > 10):
                if "mod" not in seen_at:
                    ok, text = await watcher.call("mod", "echo", {"text": "hello"}, timeout=5)
                    if ok and text.startswith("g2 "):
                        seen_at["mod"] = time.perf_counter()
                if "rm" not in seen_at and not await inst.system.present(watcher, "rm"):
                    seen_at["rm"] = time.perf_counter()
                await asyncio.sleep(0.1)
            results = {server: await task for server, task in calls.items()}
    cells = []
    for server, word in (("mod", "new"), ("rm", "gone")):
        ok, text = results[server]
        when = (f"{word} never" + table.note("the change was not seen within 10 s of the slow calls' end")
                if server not in seen_at else f"{word} after" if seen_at[server] > answered[server]
                else f"{word} {seen_at[server] - written:.1f}s")
        if ok and "slept" in text:
            cells.append(Cell(f"answered, {when}", 1))
        else:
            reason = "no answer" if "timed out" in text.lower() or "timeout" in text.lower() else "error"
            cells.append(Cell(f"{reason}{table.note(f'{inst.system.key}: {text[:120]}')}, {when}", 0))
    return cells


async def call_loop(client, until):
    """Calls of server a's echo one after another until `until()`: (latencies of the answered, failures)."""
    times, failures = [], 0
    while not until():
        begun = time.perf_counter()
        ok, _ = await client.call("a", "echo", {"text": "hello"}, timeout=10)
        if ok:
            times.append(time.perf_counter() - begun)
        else:
            failures += 1
    return times, failures


async def reloads(inst, args):
    """Row 3: the call loop to server `a`, steady (no edits) for --baseline s, then while server `b` is added and
    removed --reloads times (each change seen before the next edit)."""
    async with Client(inst) as watcher:
        await converge(inst, watcher, {"a": "g1"})
        async with Client(inst) as caller:
            end = time.perf_counter() + args.baseline
            steady, steady_failures = await call_loop(caller, lambda: time.perf_counter() > end)
            done = asyncio.Event()
            loop = asyncio.create_task(call_loop(caller, done.is_set))
            seen = 0
            try:
                for n in range(args.reloads):
                    adding = n % 2 == 0
                    inst.write({"a": "g1", "b": "g1"} if adding else {"a": "g1"})
                    waited = await (wait_callable(watcher, "b", timeout=20, interval=0.1) if adding
                                    else wait_gone(watcher, "b", timeout=20, interval=0.1))
                    seen += waited is not None
                    await asyncio.sleep(0.3)
            finally:
                done.set()
                during, failures = await loop
    total = len(during) + failures
    return [Cell(f"{failures}/{total} ({seen} seen)"),
            Cell(f"{ms(p(during, .5))}/{ms(p(during, .99))} ms" if during else "-", p(during, .99) if during else None),
            Cell(f"{ms(p(steady, .5))}/{ms(p(steady, .99))} ms" if steady else "-", p(steady, .99) if steady else None)]


async def invalid(inst, kind, table):
    """Row 8: server `b` added with a defect; after the system's reaction time, is `a` still callable and `b`
    not in the live config (kept), `b` taken in (applied broken), or `a` not callable (lost tools)? The valid
    catalog is restored after."""
    async with Client(inst) as client:
        await converge(inst, client, {"a": "g1"})
        inst.write({"a": "g1", "b": "g1"}, defect=("b", kind))
        await asyncio.sleep(inst.system.react + 1)
        ok, text = await client.call("a", "echo", {"text": "hello"}, timeout=10)
        applied = await inst.system.configured(client, "b")
        served = await inst.system.present(client, "b")
    if not ok:
        verdict = Cell("lost tools" + table.note(f"{inst.system.key}, {kind}: {text[:120]}"), 0)
    elif applied:
        verdict = Cell("applied broken" + ("" if served else table.note(
            f"{inst.system.key}, {kind}: took the bad server into its live config without serving it")), 0)
    else:
        verdict = Cell("kept", 1)
    inst.servers = {"a": "g1", "b": "g1"}  # what it may serve now: the restore waits for b to go
    try:
        async with Client(inst) as client:
            await converge(inst, client, {"a": "g1"})
    except PeerFailure:  # start it anew for the next edit
        inst.stop()
        inst.servers = {"a": "g1"}
        inst.start()
    return verdict


async def first_call(inst, server="a"):
    """Row 7 (and every start): seconds from the gateway's start until a call of `server` through it works."""
    started = await asyncio.to_thread(inst.start)
    deadline = time.perf_counter() + 60
    session = None
    while time.perf_counter() < deadline:
        try:
            session = session or await asyncio.to_thread(rpc_session, inst.port)
            ok, _ = await asyncio.to_thread(rpc_call, inst, session, server, "echo", {"text": "hello"})
            if ok:
                return time.perf_counter() - started
        except (OSError, ValueError, urllib.error.URLError):
            session = None
        await asyncio.sleep(0.05)
    raise PeerFailure(f"{inst.system.key}: no successful call within 60 s of its start")


@contextlib.asynccontextmanager
async def fleet(systems, work, servers, **kwargs):
    """An instance of every system, started at once (the starts overlap) and serving a first call, then past the
    slowest one's settle; yields {key: Instance, or the PeerFailure of one that did not start}; stops them all."""
    instances = {s.key: Instance(s, work, servers, **kwargs) for s in systems}
    try:
        outcomes = await asyncio.gather(*(first_call(i, next(iter(servers))) for i in instances.values()),
                                        return_exceptions=True)
        await asyncio.sleep(max(s.settle for s in systems))
        yield {key: (o if isinstance(o, BaseException) else instances[key]) for key, o in zip(instances, outcomes)}
    finally:
        for inst in instances.values():
            inst.stop()


# ---------------------------------------------------------------------------------------------------------------

ROWS = ["detect", "inflight", "reloads", "latency", "throughput", "idle", "start", "invalid"]
DEFECTS = [("syntax", "invalid edit: syntax error"), ("no-command", "invalid edit: a server without command"),
           ("unknown-key", "invalid edit: an unknown key")]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (about 3 minutes): fewer samples")
    parser.add_argument("--only", default="", help=f"rows to run, by name or number: {','.join(ROWS)}")
    parser.add_argument("--systems", default="hotswap,hotswap-sidecar,hangar,magg",
                        help=f"columns, of: {','.join(SYSTEMS)}")
    parser.add_argument("--methods", default="in-place,rename,configmap", help="row 1's ways of editing")
    parser.add_argument("--edits", type=int, help="row 1: edits per cell (3; --quick 1)")
    parser.add_argument("--timeout", type=float, default=10.0, help="row 1: an edit not served by then is missed")
    parser.add_argument("--slow", type=float, help="row 2: seconds the in-flight call lasts (8; --quick 7)")
    parser.add_argument("--reloads", type=int, help="row 3: reloads (20; --quick 6)")
    parser.add_argument("--baseline", type=float, help="row 3: seconds of the steady loop (5; --quick 2)")
    parser.add_argument("--seconds", type=float, help="rows 4-5: seconds of each wrk run (5; --quick 2)")
    parser.add_argument("--idle", type=float, help="row 6: seconds measured (10; --quick 5)")
    parser.add_argument("--starts", type=int, help="row 7: starts per system (3; --quick 1)")
    args = parser.parse_args()
    defaults = {"edits": (3, 1), "slow": (8.0, 7.0), "reloads": (20, 6), "baseline": (5.0, 2.0), "seconds": (5, 2),
                "idle": (10.0, 5.0), "starts": (3, 1)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    only = set()
    for item in filter(None, args.only.split(",")):
        if item.isdigit() and 1 <= int(item) <= len(ROWS):
            only.add(ROWS[int(item) - 1])
        elif item in ROWS:
            only.add(item)
        else:
            parser.error(f"--only: unknown row {item!r} (rows: {', '.join(ROWS)} or 1-{len(ROWS)})")
    args.rows = only or set(ROWS)
    unknown = [s for s in args.systems.split(",") if s not in SYSTEMS]
    if unknown:
        parser.error(f"--systems: unknown {unknown} (of {', '.join(SYSTEMS)})")
    return args


async def run(args, table, work):
    systems = table.systems

    async def each(label, better, experiment, rows=1):
        """One experiment for every system in turn; `rows` table rows from its list of cells (or one Cell)."""
        results = {}
        for system in systems:
            try:
                got = await experiment(system)
                results[system.key] = got if isinstance(got, list) else [got]
            except Exception as e:
                results[system.key] = [table.failed(system, e)] * rows
        for n, (text, good) in enumerate(zip([label] if isinstance(label, str) else label,
                                             [better] if rows == 1 else better)):
            table.add(text, {k: v[n] for k, v in results.items()}, good)

    def on(running, experiment):
        """The experiment on a system's running instance (raising the failure of one that did not start)."""
        async def cell(system):
            inst = running[system.key]
            if isinstance(inst, BaseException):
                raise inst
            return await experiment(inst)
        return cell

    if "detect" in args.rows:
        names = {"in-place": "edit in place", "rename": "edit by rename", "configmap": "ConfigMap update"}
        for method in args.methods.split(","):
            async with fleet(systems, work, {"s0": "g1"}, method=method, tag=method) as running:
                await each(f"{names[method]}: served/edits, p50", "low", on(running, lambda inst: detect(inst, args)))

    # Rows 2, 3 and 8 edit one running instance per system; each row goes round them in turn.
    if args.rows & {"inflight", "reloads", "invalid"}:
        async with fleet(systems, work, {"a": "g1", "mod": "g1", "rm": "g1"}, tag="edits") as running:
            if "inflight" in args.rows:
                await each(["in-flight call, its server modified", "in-flight call, its server removed"], [None, None],
                           on(running, lambda inst: inflight(inst, args, table)), rows=2)
            if "reloads" in args.rows:
                await each([f"calls during {args.reloads} reloads: failed/all", "  p50/p99 during the reloads",
                            f"  p50/p99 steady, {args.baseline:g} s without edits"], [None, "low", "low"],
                           on(running, lambda inst: reloads(inst, args)), rows=3)
            if "invalid" in args.rows:
                for kind, label in DEFECTS:
                    await each(label, None, on(running, lambda inst, kind=kind: invalid(inst, kind, table)))

    # Rows 4-7: each system started --starts times in turn (row 7), one at a time; the last start of each stays up
    # for rows 6, 4 and 5.
    if args.rows & {"latency", "throughput", "idle", "start"}:
        running, starts = {}, {s.key: [] for s in systems}
        try:
            for _ in range(args.starts if "start" in args.rows else 1):
                for system in systems:
                    old = running.get(system.key)
                    if isinstance(old, Instance):
                        old.stop()
                    running[system.key] = inst = Instance(system, work, {"a": "g1"}, tag="steady")
                    try:
                        starts[system.key].append(await first_call(inst))
                    except PeerFailure as e:
                        running[system.key] = e
            if "start" in args.rows:
                async def start(system):
                    if isinstance(running[system.key], BaseException):
                        raise running[system.key]
                    median = statistics.median(starts[system.key])
                    return Cell(f"{median:.2f} s", median)
                await each(f"start to first call, p50 of {args.starts}", "low", start)
            if "idle" in args.rows:  # every system over the same window
                await asyncio.sleep(2)
                live = {k: i for k, i in running.items() if isinstance(i, Instance)}
                before = {k: sum(cpu_ticks(x.pid) for x in i.processes) for k, i in live.items()}
                await asyncio.sleep(args.idle)
                after = {k: sum(cpu_ticks(x.pid) for x in i.processes) for k, i in live.items()}
                rss = {k: sum(rss_kib(x.pid) for x in i.processes) / 1024 for k, i in live.items()}
                uss = {k: sum(uss_kib(x.pid) for x in i.processes) / 1024 for k, i in live.items()}

                async def idle(inst):
                    percent = 100 * (after[inst.system.key] - before[inst.system.key]) / TICKS / args.idle
                    mib, private = rss[inst.system.key], uss[inst.system.key]
                    return [Cell(f"{percent:.2f}%", percent), Cell(f"{mib:.0f} MiB", mib),
                            Cell(f"{private:.1f} MiB", private)]
                await each([f"idle CPU, % of a core over {args.idle:g} s", "idle RSS (gateway + sidecar)",
                            "idle private memory (USS)"],
                           ["low", "low", "low"], on(running, idle), rows=3)
            if "latency" in args.rows:
                async def latency(inst):
                    await asyncio.to_thread(wrk, inst, work, 1, 1)  # warm-up
                    r = await asyncio.to_thread(wrk, inst, work, 1, args.seconds)
                    direct = await asyncio.to_thread(direct_p50, inst.system.python, os.path.join(work, "backend.py"), 300)
                    bad = f", {r['bad']} bad" if r["bad"] else ""
                    return Cell(f"{ms(r['p50'])} ({ms(direct)}) ms{bad}", r["p50"])
                await each("call p50 via the gateway (direct stdio)", "low", on(running, latency))
            if "throughput" in args.rows:
                async def throughput(inst):
                    await asyncio.to_thread(wrk, inst, work, 8, 1)  # warm-up
                    r = await asyncio.to_thread(wrk, inst, work, 8, args.seconds)
                    bad = f", {r['bad']} bad" if r["bad"] else ""
                    return Cell(f"{r['rate']:.0f}/s{bad}", r["rate"])
                await each(f"calls/s, 8 clients, {args.seconds:g} s", "high", on(running, throughput))
        finally:
            for inst in running.values():
                if isinstance(inst, Instance):
                    inst.stop()


def main():
    args = parse_args()
    if args.rows & {"latency", "throughput"} and not shutil.which("wrk"):
        sys.exit("bench-peers: wrk is missing (apt-get install wrk)")
    systems = [SYSTEMS[key]() for key in args.systems.split(",")]
    table = Table(systems)
    print(machine_line())
    print(f"systems: {', '.join(s.key for s in systems)}; the backend: FastMCP stdio (echo, sleep) in each system's "
          f"venv python; rows as they complete (load = 1-minute load average at the row's end)", flush=True)
    print(table.header(), flush=True)
    work = tempfile.mkdtemp(prefix="hotswap-bench-peers-")
    with open(os.path.join(work, "backend.py"), "w") as f:
        f.write(BACKEND)
    begun = time.time()
    try:
        asyncio.run(run(args, table, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'quick' if args.quick else 'full'} run, {time.time() - begun:.0f} s. Row 1: {args.edits} edits per cell, "
          f"missed = not callable within {args.timeout:g} s. Ratio = hotswap (the better of its two modes) / the best "
          "peer (mcp-hangar, magg): below 1 is better for times, CPU and memory, above 1 for calls/s; '-' where not "
          "comparable (a yes/no row, or a side without a full result).")
    print(table.header(ratio=True))
    for row in table.rows:
        print(table.line(row, ratio=True))
    for n, text in enumerate(table.notes, 1):
        print(f"[{n}] {text}")
    if table.harness_errors:
        sys.exit(f"bench-peers: {table.harness_errors} harness error(s), see above")


if __name__ == "__main__":
    main()
