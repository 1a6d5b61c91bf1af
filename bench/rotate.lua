-- wrk script: rotate through the request paths listed in the file named by $PATHS_FILE,
-- each thread starting at a different offset, with a realistic pip User-Agent. Requests are
-- pre-formatted in init() so the Lua cost per request is one table lookup.
-- done() prints one machine-readable line that redirect.sh parses.

local ua = os.getenv("BENCH_UA") or
  'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"bookworm","libc":{"lib":"glibc","version":"2.36"},' ..
  '"name":"Debian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.7"},' ..
  '"installer":{"name":"pip","version":"24.0"},"openssl_version":"OpenSSL 3.0.11 19 Sep 2023",' ..
  '"python":"3.11.7","rustc_version":"1.75.0","setuptools_version":"69.0.3","system":{"name":"Linux",' ..
  '"release":"6.1.0-17-amd64"}}'

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

function init(args)
  local file = os.getenv("PATHS_FILE")
  local headers = { ["User-Agent"] = ua, ["Accept"] = "*/*", ["Accept-Encoding"] = "gzip, deflate" }
  if file then
    for line in io.lines(file) do
      if #line > 0 then
        n = n + 1
        reqs[n] = wrk.format("GET", line, headers)
      end
    end
  end
  if n == 0 then
    n = 1
    reqs[1] = wrk.format("GET", "/", headers)
  end
  i = (tonumber(tid) or 0) * 97 % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
