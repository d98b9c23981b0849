-- wrk's script for benchmarks.ingest: POST /v1/events with PER_REQUEST new events
-- per request (each with its own event id), counting the events the server accepted.
--   KEY=... PER_REQUEST=500 RUN=abc wrk -t1 -c8 -d5s -s benchmarks/wrk_events.lua URL
-- done() prints one JSON line: requests, seconds, accepted, errors, p50/p99 in µs.

local types = { "created", "picked_up", "in_transit", "arrived_at_facility", "out_for_delivery" }
local per_request = tonumber(os.getenv("PER_REQUEST") or "1")
local run = os.getenv("RUN") or "wrk"
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("KEY") or ""),
}
local threads = {}
local sent = 0
accepted = 0
failed = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function event(i)
  local shipment = math.floor(i / 5)
  return string.format(
    '{"event_id":"%s-%s-%d","shipment_id":"%s-%s-S%d","event_timestamp":"2026-11-%02dT%02d:00:00Z",'
      .. '"event_type":"%s","location_id":"HUB-%d","carrier":"ACME"}',
    run, id, i, run, id, shipment, 1 + shipment % 28, i % 5 * 4, types[i % 5 + 1], i % 50
  )
end

function request()
  local events = {}
  for _ = 1, per_request do
    events[#events + 1] = event(sent)
    sent = sent + 1
  end
  return wrk.format("POST", "/v1/events", headers, "[" .. table.concat(events, ",") .. "]")
end

function response(status, _, body)
  if status ~= 200 then
    failed = failed + 1
    return
  end
  accepted = accepted + (tonumber(string.match(body, '"accepted":%s*(%d+)')) or 0)
end

function done(summary, latency, _)
  local total_accepted, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "accepted": %d, "failed": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration / 1e6, total_accepted, total_failed,
    latency:percentile(50), latency:percentile(99)
  ))
end
