-- wrk script for bin/bench-serving: every request carries the next person's
-- API token (from the file named by WRK_TOKENS, one token a line), so each
-- feed read is a different viewer's, as in real traffic; each thread starts
-- at its own offset. done() writes the run's figures as JSON to WRK_OUT.
local tokens = {}
for line in io.lines(os.getenv("WRK_TOKENS")) do
  if line ~= "" then tokens[#tokens + 1] = line end
end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local i = 0
function init(args)
  i = (offset or 1) * 7919
end

function request()
  i = i + 1
  local token = tokens[(i % #tokens) + 1]
  return wrk.format("GET", nil, { ["Authorization"] = "Token " .. token })
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write, e.timeout))
  out:close()
end
