-- wrk script: each request claims the demo campaign's card for a fresh user.
-- The tokens file (from `lantern token --count N`) has one "user<TAB>token" per line;
-- thread k of n uses lines k, k+n, k+2n, … so no two requests share a user.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  tokens_file = args[1]
  nthreads = tonumber(args[2])
  tokens = {}
  local i = 0
  for line in io.lines(tokens_file) do
    if i % nthreads == id then
      local tab = line:find("\t")
      tokens[#tokens + 1] = line:sub(tab + 1)
    end
    i = i + 1
  end
  next_token = 1
  created = 0
end

function request()
  local token = tokens[next_token]
  if token == nil then
    token = tokens[1]
  end
  local key = id .. "-" .. next_token
  next_token = next_token + 1
  return wrk.format("POST", "/v1/campaigns/spring-festival/claims",
    { ["Authorization"] = "Bearer " .. token, ["Idempotency-Key"] = key, ["Content-Type"] = "application/json" },
    "{}")
end

function response(status, headers, body)
  if status == 201 then created = created + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("created")
  end
  io.write(string.format("cards created (201): %d\n", total))
end
