-- POST /auth/refresh along refresh-token chains: each thread starts with one
-- token per connection, plus one (wrk calls request() once more than it has
-- connections), from file args[1] .. "-" .. id, and sends the successor from
-- each response next, as a client would.
local queue = {}
local path

function init(args)
  queue = read_lines(args[1] .. "-" .. id)
  path = wrk.path
end

function request()
  local token = table.remove(queue) or "chain-lost"
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then queue[#queue + 1] = token end
end
