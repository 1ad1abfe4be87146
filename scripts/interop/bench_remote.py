"""tools/call to a remote MCP server (the Python SDK's Streamable HTTP, on loopback) through the gateway
(release build) vs straight to it, with the same keep-alive HTTP client; interleaved rounds. Prints the machine,
the date, p50/p99 of each and the gateway's overhead at p50.

  scripts/bench-remote [CALLS-PER-ROUND] [ROUNDS]      (default 200 x 5; runs this with the .venv of scripts/test,
                                                       after a release build of hotswap)
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(ROOT)  # this file is scripts/interop/bench_remote.py
PYTHON = sys.executable

import httpx  # noqa: E402  (the MCP SDK's own HTTP client, in the venv)
from bench_common import listening, machine_line  # noqa: E402

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def answer(response):
    """The JSON-RPC message of a reply: plain JSON, or the last data line of an event stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1]) if data else None
    return response.json() if response.content else None


class Session:
    def __init__(self, url):
        self.url = url
        self.client = httpx.Client(timeout=30)
        self.headers = dict(HEADERS)
        r = self.client.post(url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "bench-remote", "version": "1"}}})
        r.raise_for_status()
        if "mcp-session-id" in r.headers:
            self.headers["mcp-session-id"] = r.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = answer(r)["result"]["protocolVersion"]
        self.client.post(url, headers=self.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.next = 1

    def call(self, tool):
        self.next += 1
        start = time.perf_counter()
        r = self.client.post(self.url, headers=self.headers, json={
            "jsonrpc": "2.0", "id": self.next, "method": "tools/call",
            "params": {"name": tool, "arguments": {"text": "hi"}}})
        elapsed = time.perf_counter() - start
        message = answer(r)
        assert message and message.get("result", {}).get("content", [{}])[0].get("text") == "HI", message
        return elapsed


def wait_for(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"bench-remote: timed out waiting for {what}")


def main():
    work = tempfile.mkdtemp(prefix="hotswap-bench-remote-")
    port_file = os.path.join(work, "port")
    server = subprocess.Popen(
        [PYTHON, os.path.join(ROOT, "scripts/interop/feature_server.py"), "--name", "r", "--http", "0",
         "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = None
    try:
        port = int(wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), "the server"))
        remote = f"http://127.0.0.1:{port}/mcp"
        wait_for(lambda: listening(port), "the server to accept connections")
        catalog = os.path.join(work, "catalog.yaml")
        with open(catalog, "w") as f:
            f.write(f"version: 1\nservers:\n  - id: r\n    prestart: true\n    runtime:\n"
                    f"      type: remote\n      url: {remote}\n")
        log = open(os.path.join(work, "gateway.log"), "w")
        gateway = subprocess.Popen(
            [os.environ.get("HOTSWAP_BIN", os.path.join(ROOT, ".build/release/hotswap")), "gateway", "--config", catalog, "--listen",
             "127.0.0.1:0", "--control-socket", os.path.join(work, "c.sock")],
            stdout=log, stderr=log)

        def gateway_port():
            text = open(log.name).read()
            found = re.search(r"listening listen=\S*:(\d+)", text)
            return found and int(found.group(1))

        gport = wait_for(gateway_port, "the gateway")
        through = Session(f"http://127.0.0.1:{gport}/mcp")
        wait_for(lambda: _ready(through), "the remote server to be served")
        direct = Session(remote)
        for s, tool in [(direct, "shout"), (through, "r__shout")]:  # warm both paths
            for _ in range(20):
                s.call(tool)
        times = {"direct": [], "through": []}
        for _ in range(ROUNDS):
            times["direct"] += [direct.call("shout") for _ in range(CALLS)]
            times["through"] += [through.call("r__shout") for _ in range(CALLS)]
        print(machine_line())
        print(f"tools/call to a remote Python SDK server (Streamable HTTP, loopback), {ROUNDS} x {CALLS} calls each, "
              "one keep-alive client:")
        for name, values in times.items():
            values.sort()
            p50 = statistics.median(values) * 1e3
            p99 = values[int(len(values) * 0.99) - 1] * 1e3
            print(f"  {name:8} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
        overhead = (statistics.median(times["through"]) - statistics.median(times["direct"])) * 1e3
        print(f"  gateway overhead at p50: {overhead:.2f} ms")
    finally:
        for p in [gateway, server]:
            if p:
                p.kill()
                p.wait()


def _ready(session):
    try:
        session.next += 1
        r = session.client.post(session.url, headers=session.headers, json={
            "jsonrpc": "2.0", "id": session.next, "method": "tools/list"})
        names = [t["name"] for t in (answer(r) or {}).get("result", {}).get("tools", [])]
        return "r__shout" in names
    except Exception:
        return False


if __name__ == "__main__":
    main()
