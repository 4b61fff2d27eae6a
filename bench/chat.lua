-- wrk script: POST one small chat completion; `wrk ... <url> -- <model>` picks the model, and
-- BENCH_API_KEY in the environment, when set, is sent as `Authorization: Bearer <key>`.
-- done() prints one JSON line so run.py reads exact percentiles instead of parsing wrk's text.

function init(args)
  local model = args[1] or "fake"
  wrk.method = "POST"
  wrk.path = "/v1/chat/completions"
  wrk.headers["Content-Type"] = "application/json"
  local key = os.getenv("BENCH_API_KEY")
  if key and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
  wrk.body = '{"model":"' .. model
    .. '","messages":[{"role":"user","content":"hello benchmark"}]}'
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
