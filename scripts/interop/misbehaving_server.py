"""A stdio MCP server that misbehaves on request, for the gateway's robustness tests.

Tools: big(mb) answers with a text of `mb` megabytes; flood(lines) writes that many lines to stderr, then answers;
spawn() starts a background child (in the server's process group) and answers its pid; crash() exits at once.
Flags: --flood-stderr N writes N lines to stderr before serving; --hang-initialize never answers initialize;
--ignore-term ignores SIGTERM; --initialize-gate PATH answers initialize only once PATH exists.
Standard library only: it runs on the system python3.
"""
import json
import subprocess
import sys

args = sys.argv[1:]
flood = int(args[args.index("--flood-stderr") + 1]) if "--flood-stderr" in args else 0
hang = "--hang-initialize" in args
gate = args[args.index("--initialize-gate") + 1] if "--initialize-gate" in args else None
if "--ignore-term" in args:
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

for i in range(flood):
    sys.stderr.write(f"flood line {i} " + "x" * 80 + "\n")
sys.stderr.flush()

TOOLS = [
    {"name": "big", "description": "a big text", "inputSchema": {"type": "object"}},
    {"name": "flood", "description": "stderr lines", "inputSchema": {"type": "object"}},
    {"name": "spawn", "description": "a child in the group", "inputSchema": {"type": "object"}},
    {"name": "crash", "description": "exits at once", "inputSchema": {"type": "object"}},
]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue
    if method == "initialize":
        if hang:
            continue
        if gate:
            import os
            import time
            while not os.path.exists(gate):
                time.sleep(0.02)
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": msg["params"].get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}}, "serverInfo": {"name": "misbehaving", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        arguments = msg["params"].get("arguments") or {}
        if name == "big":
            text = "y" * int(float(arguments.get("mb", 1)) * 1024 * 1024)
        elif name == "flood":
            for i in range(int(arguments.get("lines", 1000))):
                sys.stderr.write(f"flood line {i}\n")
            sys.stderr.flush()
            text = "flooded"
        elif name == "spawn":
            child = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            text = str(child.pid)
        elif name == "crash":
            import os
            os._exit(3)
        else:
            text = "unknown"
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}]}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no"}})

# A server that ignores SIGTERM also outlives its stdin: only SIGKILL ends it.
if "--ignore-term" in args:
    import time
    while True:
        time.sleep(1)
