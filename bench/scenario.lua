-- wrk script for one benchmark scenario: cycles through pre-formatted requests.
--
-- wrk -s bench/scenario.lua URL -- METHOD PATHS_FILE [BODY_FILE]
--   PATHS_FILE: one request path (with its query) per line; requests go round-robin.
--   BODY_FILE:  the request body sent with every request (PUT), as application/json.
-- Every request carries a bearer token. done() prints one JSON line prefixed "wrk-json ".

local requests = {}
local count = 0
local index = 0

local function read_file(path)
   local file = assert(io.open(path, "rb"))
   local text = file:read("*a")
   file:close()
   return text
end

function init(args)
   local method = args[1]
   local body = nil
   local headers = { ["Authorization"] = "Bearer bench-token" }
   if args[3] ~= nil then
      body = read_file(args[3])
      headers["Content-Type"] = "application/json"
   end
   for path in io.lines(args[2]) do
      if path ~= "" then
         count = count + 1
         -- wrk.format fills in Host and Content-Length; copy so each request owns its table.
         local own = {}
         for name, value in pairs(headers) do own[name] = value end
         requests[count] = wrk.format(method, path, own, body)
      end
   end
   assert(count > 0, "no request paths in " .. args[2])
   -- Threads start at different offsets so that they do not hit the same resource in step.
   index = math.random(count) - 1
end

function request()
   index = index % count + 1
   return requests[index]
end

function done(summary, latency, _)
   local errors = summary.errors
   io.write(string.format(
      'wrk-json {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
