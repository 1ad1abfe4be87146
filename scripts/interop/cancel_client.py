#!/usr/bin/env python3
"""Cancels a call through the gateway the three ways a client does, over raw HTTP, and exits once the
request is under way and cancelled from the client's side; whether the server saw it is for the caller to
check (feature_server.py's `wait` tool writes to its --cancel-log).

  cancel_client.py URL TOOL notify      notifications/cancelled for the request, connection kept
  cancel_client.py URL TOOL drop-sse    asks for progress (so the answer is an event stream), then closes
(A connection dropped while the answer would be plain JSON is tested from Swift, with a raw socket.)

Prints one JSON line: what the client saw before it cancelled.
"""
import http.client
import json
import sys
from urllib.parse import urlparse

url, tool, mode = sys.argv[1], sys.argv[2], sys.argv[3]
parts = urlparse(url)
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def post(conn, message, session=None):
    headers = dict(HEADERS)
    if session:
        headers["Mcp-Session-Id"] = session
    conn.request("POST", parts.path, json.dumps(message), headers)
    return conn.getresponse()


def connect():
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


conn = connect()
reply = post(conn, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cancel-client", "version": "1"}}})
session = reply.getheader("Mcp-Session-Id")
reply.read()
post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).read()

call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": "p-7"}}}
seen = {}
caller = connect()
response = post(caller, call, session)
seen["content_type"] = response.getheader("Content-Type")
# Read events until the server's first progress notification: the call is running at the server.
event = []
while True:
    raw = response.readline()
    if not raw:
        seen["ended_early"] = True
        break
    line = raw.decode().rstrip("\r\n")
    if line == "":
        data = "".join(l[5:].strip() for l in event if l.startswith("data:"))
        ids = [l[3:].strip() for l in event if l.startswith("id:")]
        event = []
        if data:
            message = json.loads(data)
            if message.get("method") == "notifications/progress":
                seen["progress"] = message["params"]
                seen["event_id"] = ids[0] if ids else None
                break
        continue
    event.append(line)
if mode == "notify":
    post(conn, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "user pressed stop"}}, session).read()
    # The stream ends with an error response to the cancelled request (so no SDK tries to resume it).
    rest = response.read().decode().replace(" ", "")
    seen["response_after_cancel"] = '"id":7' in rest and '"error"' in rest
else:
    caller.sock.close()
    seen["closed"] = True
print(json.dumps(seen))
