"""The gateway under load from a native client: wrk with keep-alive against /mcp (scripts/load/call.lua).

The backend is the Swift echo server (mcp-demo-server). Each row is run with one connection (latency: p50 and
p99 unloaded) and with --connections (saturation: calls/s). The CPU column is the process under test's own CPU
time (utime + stime from /proc) divided by the calls it answered: the gateway's for the gateway rows, the demo
server's for the direct row. Run by scripts/bench-load (release build); the figures go to BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench_common import listening, machine_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".build/release")
LUA = os.path.join(ROOT, "scripts/load/call.lua")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def context_switches(pid):
    """Context switches of every thread of a process so far: a thread that sleeps and is woken costs one."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{task}/status").read()
        except OSError:
            continue  # the thread ended
        total += sum(int(n) for n in re.findall(r"(?:non)?voluntary_ctxt_switches:\s+(\d+)", status))
    return total


def wait_listening(port, process):
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench-load: {process.args[0]} exited ({process.returncode})")
        if listening(port):
            return
        time.sleep(0.05)
    sys.exit(f"bench-load: nothing listens on {port}")


def initialize(port):
    """A session: initialize and notifications/initialized; returns the session id."""
    def post(body, session=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-06-18"}
        if session:
            headers["Mcp-Session-Id"] = session
        request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.headers.get("Mcp-Session-Id"), r.read()
    session, _ = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench-load", "version": "1"}}})
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def echo_params(tool):
    """call.lua's PARAMS-JSON for a call of `tool` (the demo server's echo)."""
    return json.dumps({"name": tool, "arguments": {"text": "hello"}})


def wrk(port, connections, seconds, script_args=None, path="/mcp"):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script_args:
        argv += ["-s", LUA, f"http://127.0.0.1:{port}{path}", "--"] + script_args
    else:
        argv += [f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def latency(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    bad = re.search(r"^BAD (\d+)", out, re.M)
    failures = (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors and not bad else 0)
    if socket_errors:
        failures += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {"calls": requests, "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": latency("50"), "p99": latency("99"), "bad": failures}


def measure(pid, port, connections, seconds, script_args=None, path="/mcp"):
    before, switches = cpu_seconds(pid), context_switches(pid)
    row = wrk(port, connections, seconds, script_args, path)
    row["cpu"] = (cpu_seconds(pid) - before) / max(1, row["calls"])
    row["switches"] = (context_switches(pid) - switches) / max(1, row["calls"])
    row["load"] = os.getloadavg()[0]
    return row


def fmt(seconds):
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=8, help="connections for the saturation runs")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench-load: wrk is missing (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="hotswap-bench-load-")
    processes = []

    def spawn(argv, name):
        log = open(os.path.join(work, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=log, cwd=work)
        processes.append(p)
        return p
    try:
        # Two HTTP echo servers: one called directly, one behind the gateway as a remote server (each keeps one
        # session).
        demo_port, remote_port, gateway_port = free_port(), free_port(), free_port()
        demo = spawn([os.path.join(BIN, "mcp-demo-server"), "--name", "direct", "--listen", f"127.0.0.1:{demo_port}"], "demo")
        remote = spawn([os.path.join(BIN, "mcp-demo-server"), "--name", "remote", "--listen", f"127.0.0.1:{remote_port}"],
                       "remote")
        wait_listening(demo_port, demo)
        wait_listening(remote_port, remote)
        catalog = os.path.join(work, "catalog.yaml")
        with open(catalog, "w") as f:
            f.write("version: 1\nservers:\n"
                    "  - id: echo\n    prestart: true\n"
                    f"    runtime: {{type: local-process, command: {os.path.join(BIN, 'mcp-demo-server')}, args: [--name, echo]}}\n"
                    "  - id: remote\n    prestart: true\n"
                    f"    runtime: {{type: remote, url: 'http://127.0.0.1:{remote_port}/mcp'}}\n")
        gateway = spawn([os.path.join(BIN, "hotswap"), "gateway", "--config", catalog, "--listen", f"127.0.0.1:{gateway_port}",
                         "--control-socket", os.path.join(work, "control.sock"), "--log-level", "warning"], "gateway")
        wait_listening(gateway_port, gateway)
        direct_session, gateway_session = initialize(demo_port), initialize(gateway_port)
        rows = [
            ("GET /healthz (the HTTP floor)", gateway.pid, gateway_port, None, "/healthz"),
            ("ping (no server behind it)", gateway.pid, gateway_port, [gateway_session, "ping"], "/mcp"),
            ("tools/call echo, direct to the server (HTTP)", demo.pid, demo_port, [direct_session, "tools/call", echo_params("echo")], "/mcp"),
            ("tools/call echo, gateway -> stdio server", gateway.pid, gateway_port,
             [gateway_session, "tools/call", echo_params("echo__echo")], "/mcp"),
            ("tools/call echo, gateway -> remote server (HTTP)", gateway.pid, gateway_port,
             [gateway_session, "tools/call", echo_params("remote__echo")], "/mcp"),
        ]
        # Warm every path up (connections, the remote server's session) before measuring.
        for _, pid, port, script_args, path in rows:
            wrk(port, 2, 1, script_args, path)
        print(machine_line())
        print(f"wrk, keep-alive, {args.seconds} s per run; 1 connection for latency, {args.connections} for calls/s; "
              "CPU = the answering process's CPU per call (gateway rows: the gateway's); cs = its context switches per call")
        print(f"{'request':50} {'conns':>5} {'calls/s':>9} {'p50':>9} {'p99':>9} {'CPU/call':>9} {'cs':>5} {'bad':>4}  load")
        results = {}
        for label, pid, port, script_args, path in rows:
            for connections in (1, args.connections):
                r = measure(pid, port, connections, args.seconds, script_args, path)
                results[(label, connections)] = r
                print(f"{label:50} {connections:>5} {r['rate']:>9.0f} {fmt(r['p50']):>9} {fmt(r['p99']):>9} "
                      f"{fmt(r['cpu']):>9} {r['switches']:>5.1f} {r['bad']:>4}  {r['load']:.2f}", flush=True)
        direct = results[(rows[2][0], 1)]
        stdio = results[(rows[3][0], 1)]
        saturated = results[(rows[3][0], args.connections)]
        print(f"gateway overhead at p50 over calling the server directly: {fmt(stdio['p50'] - direct['p50'])} (aim: 100 µs)")
        print(f"gateway CPU per tools/call at saturation: {fmt(saturated['cpu'])} (aim: 50 µs)")
        if any(r["bad"] for r in results.values()):
            sys.exit("bench-load: some calls failed (the bad column)")
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
