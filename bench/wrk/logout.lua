-- POST /auth/logout, each request ending one of the sessions seeded for this
-- thread (file args[1] .. "-" .. id). The thread stops when its tokens run out,
-- so every counted request ended a real session.
local queue = {}
local path

function init(args)
  queue = read_lines(args[1] .. "-" .. id)
  path = wrk.path
end

function request()
  local token = table.remove(queue)
  if token == nil then
    wrk.thread:stop()
    token = "exhausted"
  end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end
