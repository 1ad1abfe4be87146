"""The container tests on a real engine (issue 13), driven by scripts/container-test.

    compose_test.py PROJECT_DIR

PROJECT_DIR holds a copy of the repository's compose.yaml and examples/ (the test edits the catalog there, as a
user edits theirs on the host). The image hotswap:latest is built already. Each step prints what it measured; a
failed check raises and the script exits 1 after printing the containers' logs.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))

from mcp import ClientSession  # noqa: E402

try:  # the 2.x line
    from mcp.client.streamable_http import streamable_http_client as connect
except ImportError:  # the 1.x line
    from mcp.client.streamable_http import streamablehttp_client as connect

PROJECT = "hotswapct"
COMPOSE = os.environ.get("HOTSWAP_COMPOSE", "docker-compose").split()
results = []
# Container ids by service, as `compose ps -q` gave them; forgotten at every `compose up` or `down`.
containers = {}


def note(what, value):
    results.append((what, value))
    print(f"   {what}: {value}", flush=True)


def run(*argv, check=True, capture=True, env=None):
    done = subprocess.run(list(argv), capture_output=capture, text=True, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout if capture else ""


def compose(*args, check=True):
    if "up" in args or "down" in args:
        containers.clear()
    return run(*COMPOSE, "-p", PROJECT, *args, check=check)


def container(service):
    """The service's container id (asked of compose once: docker-compose 1.29 takes about half a second)."""
    if service not in containers:
        ids = compose("ps", "-q", service).split()
        if not ids:
            raise AssertionError(f"no container for {service}")
        containers[service] = ids[0]
    return containers[service]


def health_of(name):
    """A container's health status (by id or name), or "missing"."""
    done = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", name],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "missing"


def health(service):
    try:
        return health_of(container(service))
    except AssertionError:
        return "missing"


def summary(title):
    print(f"== {title}: all passed")
    for what, value in results:
        print(f"   {what:45} {value}")


def wait_for(what, condition, timeout=60.0, interval=0.05):
    """Polls `condition` until it returns a true value; returns (value, seconds). Raises after `timeout`."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        try:
            last = condition()
            if last:
                return last, time.monotonic() - start
        except Exception as e:  # noqa: BLE001 - a not-yet-ready service answers with any error
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


async def _tools(url):
    async with connect(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            return [t.name for t in (await session.list_tools()).tools]


async def _call(url, tool, arguments):
    async with connect(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            result = await session.call_tool(tool, arguments)
            error = getattr(result, "is_error", getattr(result, "isError", False))
            return (not error), " ".join(getattr(c, "text", str(c)) for c in result.content)


def tools(port):
    return asyncio.run(_tools(f"http://127.0.0.1:{port}/mcp"))


def call(port, tool, arguments):
    return asyncio.run(_call(f"http://127.0.0.1:{port}/mcp", tool, arguments))


def callable_(port, tool, arguments, expect):
    def check():
        ok, text = call(port, tool, arguments)
        return ok and expect in text

    return check


def server(name, extra=""):
    return f"""  - id: {name}
    runtime:
      type: local-process
      command: {extra or "mcp-demo-server"}
      args: ["--name", "{name}"]
"""


def catalog(*names, orphaner=False):
    text = "# written by scripts/container/compose_test.py\nversion: 1\nservers:\n"
    text += "".join(server(n) for n in names)
    if orphaner:
        # A server with a child in a session of its own (out of reach of the gateway's process-group kill):
        # when the server is killed the child is an orphan, reparented to the container's PID 1, and its exit
        # a zombie unless that init reaps it (tini does; the gateway as PID 1 would not).
        text += """  - id: orphaner
    runtime:
      type: local-process
      command: /bin/sh
      args: ["-c", "setsid sh -c 'sleep 1' & exec mcp-demo-server --name orphaner"]
"""
    return text


def write_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)


def write_by_rename(path, text):
    temporary = os.path.join(os.path.dirname(path), ".catalog.yaml.swp")
    with open(temporary, "w") as f:
        f.write(text)
    os.rename(temporary, path)


def edit_to_callable(port, path, text, tool, write, label):
    start = time.monotonic()
    write(path, text)
    _, _ = wait_for(f"{label}: {tool} callable", callable_(port, tool, {"text": label}, label), timeout=30)
    seconds = time.monotonic() - start
    note(f"{label}: edit to {tool} callable", f"{seconds:.2f} s")
    return seconds


def zombies(service):
    """Zombies the container's init has not reaped: processes in state Z whose parent is the container's PID 1.
    (`docker top` cannot show them: an exited task leaves its cgroup, so look at the host's /proc.)"""
    init = run("docker", "inspect", "--format", "{{.State.Pid}}", container(service)).strip()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if fields.get("State", "").strip().startswith("Z") and fields.get("PPid", "").strip() == init:
            found.append(f"{entry} ({fields.get('Name', '').strip()})")
    return found


def orphans_running():
    """Whether an orphaner's `sleep 1` is still running (on the host's /proc, as the containers' processes are)."""
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == b"sleep\x001\x00":
                    return True
        except OSError:
            continue
    return False


def rss(service):
    out = run("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container(service)).strip()
    return out.split("/")[0].strip()


def logs(service):
    return compose("logs", "--no-color", service, check=False)


def test(directory):
    os.chdir(directory)
    path = os.path.join(directory, "examples", "catalog.yaml")
    compose("down", "-v", "--remove-orphans", check=False)

    print("== compose up: keygen, gateway, sidecar", flush=True)
    start = time.monotonic()
    compose("up", "-d", "--no-build")
    _, gateway_healthy = wait_for("gateway healthy", lambda: health("gateway") == "healthy", timeout=90)
    note("up to gateway healthy", f"{time.monotonic() - start:.1f} s")
    wait_for("sidecar healthy", lambda: health("sidecar") == "healthy", timeout=90)
    note("up to sidecar healthy", f"{time.monotonic() - start:.1f} s")
    served = tools(4444)
    assert "echo__echo" in served and "clock__echo" in served, served

    print("== keys: the gateway holds no private key", flush=True)
    gateway_keys = run("docker", "exec", container("gateway"), "ls", "/keys").split()
    sidecar_keys = run("docker", "exec", container("sidecar"), "ls", "/keys").split()
    assert gateway_keys == ["sidecar.pub.pem"], gateway_keys
    assert "sidecar.key.pem" in sidecar_keys, sidecar_keys

    print("== edits on the host reach the gateway through the sidecar (socket, signed token)", flush=True)
    edit_to_callable(4444, path, catalog("echo", "added"), "added__echo", write_in_place, "in place")
    edit_to_callable(4444, path, catalog("echo", "renamed"), "renamed__echo", write_by_rename, "rename")
    stats = json.loads(run("docker", "exec", container("gateway"), "hotswap", "status", "--format", "json", check=False) or "{}")
    source = (stats.get("last_reload") or {}).get("source")
    assert source == "socket", f"the last reload came from {source!r}, not the sidecar's signed push: {stats}"
    unsigned = subprocess.run(
        ["docker", "exec", container("gateway"), "hotswap", "reload", "--config", "/etc/hotswap/catalog.yaml"],
        capture_output=True, text=True)
    assert unsigned.returncode != 0, "the gateway applied a reload without a token"
    note("reload without a token", f"refused (exit {unsigned.returncode})")

    print("== an invalid catalog is refused; the old one keeps serving", flush=True)
    write_in_place(path, "version: 1\nservers:\n  - id: broken\n    runtime: {type: local-process\n")
    wait_for("the sidecar refuses it", lambda: "invalid" in logs("sidecar").lower() or "refus" in logs("sidecar"),
             timeout=20)
    ok, text = call(4444, "renamed__echo", {"text": "still"})
    assert ok and "still" in text, text
    note("invalid catalog", "refused, the previous catalog still served")

    print("== servers crash: no zombie in any container (tini)", flush=True)
    edit_to_callable(4444, path, catalog("echo", orphaner=True), "orphaner__echo", write_in_place, "orphaner")
    for _ in range(3):
        top = run("docker", "top", container("gateway"), "-eo", "pid,comm")
        pids = [line.split()[0] for line in top.splitlines()[1:] if "mcp-demo-server" in line]
        assert pids, top
        run("kill", "-KILL", *pids)
        wait_for("servers restarted", callable_(4444, "orphaner__echo", {"text": "back"}, "back"), timeout=30)
    # Once the orphans' `sleep 1` has ended, each orphan is a zombie unless the init reaped it.
    wait_for("the orphans to end", lambda: not orphans_running(), timeout=10)
    left = [z for s in ("gateway", "sidecar") for z in zombies(s)]
    assert not left, f"zombies of the containers' init: {left}"
    note("zombies after 3 crashes with orphans", "none")

    print("== the sighup profile: the sidecar signals SIGHUP with a token file", flush=True)
    start = time.monotonic()
    compose("--profile", "sighup", "up", "-d", "--no-build", "gateway-sighup", "sidecar-sighup")
    wait_for("gateway-sighup healthy", lambda: health("gateway-sighup") == "healthy", timeout=90)
    wait_for("sidecar-sighup healthy", lambda: health("sidecar-sighup") == "healthy", timeout=90)
    note("sighup pair up to healthy", f"{time.monotonic() - start:.1f} s")
    wait_for("the sighup gateway serves the file", lambda: "orphaner__echo" in tools(4445), timeout=30)
    edit_to_callable(4445, path, catalog("echo", "hup"), "hup__echo", write_in_place, "sighup in place")
    edit_to_callable(4445, path, catalog("echo", "huprename"), "huprename__echo", write_by_rename, "sighup rename")
    hup_logs = logs("gateway-sighup")
    assert "sighup" in hup_logs, hup_logs[-2000:]

    print("== footprint", flush=True)
    for service in ("gateway", "sidecar", "gateway-sighup", "sidecar-sighup"):
        note(f"RSS {service}", rss(service))
    for tag in ("hotswap:latest", "hotswap:full"):
        size = run("docker", "image", "inspect", "--format", "{{.Size}}", tag, check=False).strip()
        if size:
            note(f"image {tag}", f"{int(size) / 1e6:.0f} MB")

    print("== down, then up again", flush=True)
    compose("--profile", "sighup", "down")
    start = time.monotonic()
    compose("up", "-d", "--no-build")
    wait_for("gateway healthy again", lambda: health("gateway") == "healthy", timeout=90)
    assert "huprename__echo" in tools(4444)
    note("down, up again to healthy", f"{time.monotonic() - start:.1f} s")
    edit_to_callable(4444, path, catalog("echo", "again"), "again__echo", write_in_place, "after down/up")
    compose("--profile", "sighup", "down", "-v")


def main():
    directory = sys.argv[1]
    try:
        test(directory)
    except Exception as e:
        print(f"FAILED: {e}", flush=True)
        os.chdir(directory)
        for service in ("gateway", "sidecar", "gateway-sighup", "sidecar-sighup"):
            print(f"---- {service}\n{logs(service)[-4000:]}")
        compose("--profile", "sighup", "down", "-v", check=False)
        return 1
    summary("compose")
    return 0


if __name__ == "__main__":
    sys.exit(main())
