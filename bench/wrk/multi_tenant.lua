-- GET /t/{slug}/me with a token of that tenant, picked at random per request from TOKENS_FILE
-- (lines "slug token"), so every request may hit another tenant's keys and cache entry.
local entries = {}
-- assert() also returns its message, which io.lines would read as a format: keep one value.
local path = assert(os.getenv("TOKENS_FILE"), "TOKENS_FILE is not set")
for line in io.lines(path) do
  local slug, token = line:match("^(%S+)%s+(%S+)$")
  if slug then entries[#entries + 1] = { "/t/" .. slug .. "/me", "Bearer " .. token } end
end
assert(#entries > 0, "no tokens in TOKENS_FILE")
math.randomseed(os.time())

-- wrk.format uses only the headers it is given: start from wrk's own (Host) each time.
local headers = {}
for k, v in pairs(wrk.headers) do headers[k] = v end

request = function()
  local e = entries[math.random(#entries)]
  headers["Authorization"] = e[2]
  return wrk.format("GET", e[1], headers)
end

done = function(summary, latency, _)
  local s = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d\n",
    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status))
end
