-- The requests wrk sends: GET <path> with X-CSRF: 1, cycling through the Cookie headers listed
-- one per line in a file (one session, or a sample of thousands). All requests are built once in
-- init(), so the script costs wrk nothing per request. The summary is one JSON line.
-- With a pace (milliseconds), each connection waits that long between requests: an offered rate
-- of at most connections * 1000 / pace requests per second, a moderate load, not a flood.
-- usage: wrk ... -s requests.lua <url> -- <path> [cookie-file] [pace-ms]

local prepared = {}
local count = 0
local index = 0

function init(args)
  local path = args[1] or "/"
  local cookie_file = args[2]
  if cookie_file and cookie_file ~= "" then
    for line in io.lines(cookie_file) do
      if line ~= "" then
        count = count + 1
        prepared[count] = wrk.format("GET", path, {["X-CSRF"] = "1", ["Cookie"] = line})
      end
    end
  end
  if count == 0 then
    count = 1
    prepared[1] = wrk.format("GET", path, {["X-CSRF"] = "1"})
  end
  index = math.random(count) - 1
  local pace = tonumber(args[3] or "0") or 0
  if pace > 0 then
    delay = function() return pace end
  end
end

function request()
  index = index % count + 1
  return prepared[index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
