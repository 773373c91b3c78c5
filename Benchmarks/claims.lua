-- wrk script: each request claims the demo campaign's card for a fresh user.
-- The tokens file (from `lantern token --count N`) has one "user<TAB>token" per line;
-- thread k of n uses lines k, k+n, k+2n, … so no two requests share a user.
--
-- The script is kept as light as wrk's own static request for /healthz, because wrk shares
-- the machine's cores with the server: each request is one string concatenation, and there is
-- no response() hook (defining one makes wrk copy every response's headers and body into Lua).
-- Cards created are counted by the server's audit afterwards; wrk reports non-2xx answers.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(args[2])
  tokens = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t")
      tokens[#tokens + 1] = line:sub(tab + 1)
    end
    i = i + 1
  end
  next_token = 1
  head = "POST /v1/campaigns/spring-festival/claims HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port
    .. "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nAuthorization: Bearer "
  key_prefix = "\r\nIdempotency-Key: " .. id .. "-"
end

function request()
  local n = next_token
  next_token = n + 1
  return head .. (tokens[n] or tokens[1]) .. key_prefix .. n .. "\r\n\r\n{}"
end

-- After the run: how many answers took over one second (answers over wrk's --timeout are
-- counted by wrk as timeouts, not here).
function done(summary, latency, requests)
  local slow = 0
  for i = 1, #latency do
    local value, count = latency(i)
    if value > 1000000 then slow = slow + count end
  end
  io.write(string.format("Over 1 s: %d\n", slow))
end
