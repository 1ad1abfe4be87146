-- wrk script for scripts/bench-load: MCP requests over one Streamable HTTP session, keep-alive.
--   wrk ... -s scripts/load/call.lua URL -- SESSION_ID METHOD [TOOL]
-- Each request has an id of its own (ids may not repeat within a session); a reply that is not HTTP 200
-- with a JSON-RPC result counts as bad, and done() prints "BAD n" for the script to check.
local counter = 0
bad = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = args[1]
  wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
  method = args[2]
  if args[3] then
    params = '{"name":"' .. args[3] .. '","arguments":{"text":"hello"}}'
  else
    params = '{}'
  end
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (tid * 1000000000 + counter) ..
    ',"method":"' .. method .. '","params":' .. params .. '}'
  return wrk.format("POST", "/mcp", nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("BAD %d\n", total))
end
