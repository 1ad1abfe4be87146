"""Edit to applied for mcp-hangar and magg: with their own watchers, and with `hotswap sidecar` in front.

For each gateway and each way an edit lands (in place, by rename as editors save, a Kubernetes ConfigMap
update by the kubelet's algorithm), the catalog gains a server and the time until the gateway serves it is
measured (mcp-hangar: its server list; magg: the new server's tools over MCP). An edit not served within
--timeout counts as missed. Run by scripts/bench-peers (release build, the venvs scripts/test makes).
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from bench_common import listening, machine_line
from mcp import ClientSession

try:
    from mcp.client.streamable_http import streamable_http_client as connect
except ImportError:
    from mcp.client.streamable_http import streamablehttp_client as connect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOTSWAP = os.environ.get("HOTSWAP_BIN", os.path.join(ROOT, ".build/release/hotswap"))
HANGAR = os.environ.get("HOTSWAP_HANGAR", os.path.join(ROOT, ".venv-hangar/bin/mcp-hangar"))
MAGG = os.path.join(os.path.dirname(os.environ.get("HOTSWAP_MAGG_PYTHON", os.path.join(ROOT, ".venv-magg/bin/python"))), "magg")
TIME_SERVER = os.path.join(ROOT, ".venv/bin/mcp-server-time")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hangar_config(ids, own_watcher):
    lines = ["mcp_servers:"]
    for i in ids:
        lines += [f"  {i}:", "    mode: subprocess", f"    command: [{sys.executable}, -m, mcp_server_time]"]
    lines += ["config_reload:", f"  enabled: {'true' if own_watcher else 'false'}", "event_store:", "  driver: memory"]
    return "\n".join(lines) + "\n"


def magg_config(ids, own_watcher):
    servers = {i: {"source": "pypi:mcp-server-time", "command": TIME_SERVER, "prefix": i} for i in ids}
    config = {"servers": servers}
    if not own_watcher:  # its watcher off without auto_reload: false (which breaks removals on SIGHUP)
        config.update(reload_use_watchdog=False, reload_poll_interval=1e9)
    return json.dumps(config)


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


def hangar_servers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/mcp_servers/", timeout=2) as r:
            return {s["mcp_server_id"] for s in json.load(r)["mcp_servers"]}
    except Exception:
        return None


async def magg_tools(session):
    return {t.name for t in (await session.list_tools()).tools}


def wait_listening(port, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench-peers: the gateway exited ({process.returncode})")
        if listening(port):
            return
        time.sleep(0.1)
    raise SystemExit("bench-peers: the gateway did not listen")


async def trial(system, method, with_sidecar, edits, timeout, work):
    directory = tempfile.mkdtemp(prefix=f"{system}-{method}-", dir=work)
    name = "config.yaml" if system == "hangar" else "config.json"
    render = hangar_config if system == "hangar" else magg_config
    own = not with_sidecar
    catalog = Catalog(directory, name, method)
    ids = ["s0"]
    catalog.write(render(ids, own))
    port = free_port()
    log = open(os.path.join(directory, "gateway.log"), "w")
    env = dict(os.environ, NO_COLOR="1", HOME=directory)
    if system == "hangar":
        argv = [HANGAR, "--config", catalog.path, "serve", "--http", "--host", "127.0.0.1", "--port", str(port)]
    else:
        argv = [MAGG, "--config", catalog.path, "serve", "--http", "--host", "127.0.0.1", "--port", str(port), "--no-banner"]
    gateway = subprocess.Popen(argv, stdout=log, stderr=log, cwd=directory, env=env)
    sidecar = None
    results = []
    try:
        wait_listening(port, gateway)
        if with_sidecar:
            watch = ["--watch", directory, "--file", name] if method == "configmap" else ["--watch", catalog.path]
            if system == "hangar":
                signal_args = ["--format", "yaml", "--signal", "http", "--url",
                               f"http://127.0.0.1:{port}/api/config/reload", "--reply-confirms"]
            else:
                pid_file = os.path.join(directory, "magg.pid")
                with open(pid_file, "w") as f:
                    f.write(str(gateway.pid))
                signal_args = ["--format", "json", "--signal", "sighup", "--pid-file", pid_file]
            sidecar = subprocess.Popen([HOTSWAP, "sidecar", "--no-listen", "--log-level", "warning"] + watch + signal_args,
                                       stdout=log, stderr=log)
        async with connect(f"http://127.0.0.1:{port}/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                await asyncio.sleep(3 if system == "magg" else 1)  # past magg's start (it loses early reloads)
                for n in range(1, edits + 1):
                    new = f"s{n}"
                    ids.append(new)
                    catalog.write(render(ids, own))
                    written = time.perf_counter()
                    seen = None
                    while time.perf_counter() - written < timeout:
                        if system == "hangar":
                            served = new in (hangar_servers(port) or set())
                        else:
                            served = f"{new}_get_current_time" in await magg_tools(session)
                        if served:
                            seen = time.perf_counter() - written
                            break
                        await asyncio.sleep(0.02)
                    results.append(seen)
                    await asyncio.sleep(1.2)  # past debounces and rate limits
    finally:
        for p in [sidecar, gateway]:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--systems", default="hangar,magg")
    parser.add_argument("--methods", default="in-place,rename,configmap")
    args = parser.parse_args()
    print(machine_line())
    print(f"edit (a server added) to served, {args.edits} edits per cell, missed = not served within {args.timeout:g} s; "
          "p50 of the edits served")
    print(f"{'gateway':8} {'edit':10} {'own watcher':>22} {'hotswap sidecar':>22}  load")
    work = tempfile.mkdtemp(prefix="hotswap-bench-peers-")
    try:
        for system in args.systems.split(","):
            for method in args.methods.split(","):
                cells = []
                for with_sidecar in (False, True):
                    times = asyncio.run(trial(system, method, with_sidecar, args.edits, args.timeout, work))
                    served = [t for t in times if t is not None]
                    p50 = f"{statistics.median(served):.2f} s" if served else "-"
                    cells.append(f"{len(served)}/{len(times)} {p50:>8}")
                print(f"{system:8} {method:10} {cells[0]:>22} {cells[1]:>22}  {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
