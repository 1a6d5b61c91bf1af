-- wrk script for the load test: a mix of requests read from $MIX_FILE (one a line:
-- "<path>\t<header: value>\t<header: value>..."), rotated per thread from different offsets;
-- $MIX_DELAY_MS (optional) throttles each connection; $MIX_UA tags every request.
-- Statuses are counted per thread; done() prints one machine-readable line:
-- LOAD requests=<completed> s2xx=.. s3xx=.. s4xx=.. s5xx=.. socket_errors=.. duration_us=..

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0
local pause = tonumber(os.getenv("MIX_DELAY_MS") or "0")
s2xx, s3xx, s4xx, s5xx = 0, 0, 0, 0

function init(args)
  local ua = os.getenv("MIX_UA") or "pkgate-load"
  for line in io.lines(os.getenv("MIX_FILE")) do
    if #line > 0 then
      local headers = { ["User-Agent"] = ua }
      local path = nil
      for field in string.gmatch(line, "[^\t]+") do
        if path == nil then
          path = field
        else
          local k, v = string.match(field, "^([^:]+): (.*)$")
          headers[k] = v
        end
      end
      n = n + 1
      reqs[n] = wrk.format("GET", path, headers)
    end
  end
  i = (tonumber(tid) or 0) * 7919 % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

if pause > 0 then
  function delay()
    return pause
  end
end

function response(status, headers, body)
  if status >= 500 then s5xx = s5xx + 1
  elseif status >= 400 then s4xx = s4xx + 1
  elseif status >= 300 then s3xx = s3xx + 1
  else s2xx = s2xx + 1 end
end

function done(summary, latency, requests)
  local t = { s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    "LOAD requests=%d s2xx=%d s3xx=%d s4xx=%d s5xx=%d socket_errors=%d duration_us=%d p99_us=%d p50_us=%d\n",
    summary.requests, t.s2xx, t.s3xx, t.s4xx, t.s5xx, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(99), latency:percentile(50)))
end
