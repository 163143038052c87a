-- One wrk phase of bench/transitions: every request is a real lifecycle transition.
--
--   wrk -t T -c C -d <upper bound> -s phase.lua -H "Authorization: Bearer ..." \
--       -H "Content-Type: application/json" http://127.0.0.1:PORT -- <requests file> T <done dir>
--
-- The requests file has one line per transition: "<path>\t<json body>". Thread k (0-based) of T
-- takes lines k, k+T, k+2T, ...; each line is sent exactly once. wrk itself only stops at the end of
-- its duration, so `delay()` parks a connection for good once its thread has nothing left to send,
-- and a thread that has all its answers records its clock, drops "<done dir>/<k>" and stops; the
-- driver sends wrk SIGINT when every thread has done so. The phase time is measured here (first
-- request sent to last answer received, over all threads), not by wrk's own duration.

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]

local function now_us()
  local tv = ffi.new("bench_timeval")
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local requests_ = {}
local done_dir

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  done_dir = args[3]
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local tab = line:find("\t", 1, true)
      local target, body = line:sub(1, tab - 1), line:sub(tab + 1)
      table.insert(requests_, wrk.format("POST", target, nil, body))
    end
    i = i + 1
  end
  quota = #requests_
  planned, sent, ok, bad, extra = 0, 0, 0, 0, 0
  first_bad = ""
  t0, t1 = 0, 0
  if quota == 0 then
    finish()
  end
end

function finish()
  t1 = now_us()
  local f = io.open(done_dir .. "/" .. tid, "w")
  f:write("done\n")
  f:close()
end

function delay()
  planned = planned + 1
  if planned > quota then
    return 1000000000  -- park this connection: nothing left for it
  end
  return 0
end

function request()
  if planned == 0 then
    -- wrk calls request() once before the run to check it; that one is never sent
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  if sent > quota then
    extra = extra + 1  -- must not happen; a harmless request, reported as a failure
    return wrk.format("GET", "/healthz")
  end
  if sent == 1 then
    t0 = now_us()
  end
  return requests_[sent]
end

function response(status, headers, body)
  if status == 200 or status == 201 then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. (body or ""):sub(1, 400)
    end
  end
  if ok + bad == quota then
    finish()
    wrk.thread:stop()
  end
end

function done(summary, latency, _requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("BENCH_THREAD %d %d %d %d %d %.0f %.0f %d\n", thread:get("tid"),
      thread:get("quota"), thread:get("sent"), thread:get("ok"), thread:get("bad"), thread:get("t0"),
      thread:get("t1"), thread:get("extra")))
    local fb = thread:get("first_bad")
    if fb ~= "" then
      io.write("BENCH_FIRST_BAD " .. fb:gsub("\n", " ") .. "\n")
    end
  end
  local e = summary.errors
  io.write(string.format("BENCH_SUMMARY %d %d %d %d %d %d %d\n", summary.requests, e.status,
    e.connect, e.read, e.write, e.timeout, summary.duration))
  io.write(string.format("BENCH_LATENCY_US %.0f %.0f %.0f\n", latency:percentile(50), latency:percentile(99),
    latency.max))
end
