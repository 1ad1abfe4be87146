-- wrk script for scripts/bench-load and scripts/bench-peers: MCP requests over Streamable HTTP, keep-alive.
--   wrk ... -s scripts/load/call.lua URL -- SESSION[,SESSION...] METHOD [PARAMS-JSON] [OK-MARK]
-- Each wrk thread takes one of the sessions in turn ("-": a gateway without sessions, no header). Each request
-- has an id of its own (ids may not repeat within a session). A reply that is not HTTP 200, lacks OK-MARK
-- (default: a JSON-RPC "result"), or says "isError":true counts as bad; done() prints "BAD n" for the caller.
local counter = 0
bad = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local sessions = {}
  for s in string.gmatch(args[1], "[^,]+") do table.insert(sessions, s) end
  local session = sessions[(tid % #sessions) + 1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  if session ~= "-" then wrk.headers["Mcp-Session-Id"] = session end
  wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
  method = args[2]
  params = args[3] or '{}'
  mark = args[4] or '"result"'
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (tid * 1000000000 + counter) ..
    ',"method":"' .. method .. '","params":' .. params .. '}'
  return wrk.format("POST", "/mcp", nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, mark, 1, true) or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("BAD %d\n", total))
end
