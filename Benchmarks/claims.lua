-- wrk script: each request claims the demo campaign's card for a fresh user.
-- The tokens file (from `lantern token --count N`) has one "user<TAB>token" per line;
-- thread k of n uses lines k, k+n, k+2n, … so no two requests share a user.
--
-- The tokens are read as requests need them, not in init(): wrk runs each thread's init()
-- before starting the next thread, so reading a million tokens there (about a second a
-- thread) let the first thread claim alone for that long, outside the run's measured time,
-- and made the next thread's connections arrive as a second crowd in the middle of the run.
--
-- The script is kept as light as wrk's own static request for /healthz, because wrk shares
-- the machine's cores with the server: each request reads one line of the (buffered) tokens
-- file for each wrk thread and makes one string, and there is no response() hook (defining one
-- makes wrk copy every response's headers and body into Lua).
-- Cards created are counted by the server's audit afterwards; wrk reports non-2xx answers.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  others = tonumber(args[2]) - 1
  tokens = assert(io.open(args[1]))
  for _ = 1, id do tokens:read("*l") end
  sent = 0
  head = "POST /v1/campaigns/spring-festival/claims HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port
    .. "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nAuthorization: Bearer "
  key_prefix = "\r\nIdempotency-Key: " .. id .. "-"
end

function request()
  -- Past the file's end the last token is sent again, and its answers count as non-2xx.
  local line = tokens:read("*l")
  if line then
    token = line:sub(line:find("\t", 1, true) + 1)
    for _ = 1, others do tokens:read("*l") end
  end
  sent = sent + 1
  return head .. token .. key_prefix .. sent .. "\r\n\r\n{}"
end

-- After the run: how many answers took over one second (answers over wrk's --timeout are
-- counted by wrk as timeouts, not here). The histogram is read from its slowest value down:
-- wrk scans the whole histogram for each value asked for, so reading every value from the
-- fastest up took minutes after a run with a long tail.
function done(summary, latency, requests)
  local slow, index = 0, #latency
  while index > 0 do
    local value, count = latency(index)
    if value <= 1000000 then break end
    slow = slow + count
    index = index - 1
  end
  io.write(string.format("Over 1 s: %d\n", slow))
end
