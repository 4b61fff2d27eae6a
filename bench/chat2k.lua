-- wrk script: POST one chat completion whose user message is read from a file;
-- `wrk ... <url> -- <model> <content file>` picks the model and the file, which holds the
-- message as one JSON string literal (quotes and escapes included), so Lua never escapes JSON.
-- BENCH_API_KEY in the environment, when set, is sent as `Authorization: Bearer <key>`.
-- done() prints the same JSON line as chat.lua, so the harness reads exact percentiles.

function init(args)
  local model = args[1] or "bench"
  local path = args[2] or os.getenv("BENCH_CONTENT_FILE")
  if not path then
    error("chat2k.lua needs a content file: wrk ... -- <model> <file>")
  end
  local file = assert(io.open(path, "rb"))
  local content = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.path = "/v1/chat/completions"
  wrk.headers["Content-Type"] = "application/json"
  local key = os.getenv("BENCH_API_KEY")
  if key and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
  wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":' .. content
    .. '}]}'
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"mean_us":%.1f,"max_us":%d,"connect_errors":%d,"read_errors":%d,'
      .. '"write_errors":%d,"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status,
    e.timeout))
end
