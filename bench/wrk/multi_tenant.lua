-- GET /t/{slug}/me with a token of that tenant, picked at random per request from TOKENS_FILE
-- (lines "slug token"), so every request may hit another tenant's keys and cache entry.
local entries = {}
for line in io.lines(assert(os.getenv("TOKENS_FILE"), "TOKENS_FILE is not set")) do
  local slug, token = line:match("^(%S+)%s+(%S+)$")
  if slug then entries[#entries + 1] = { "/t/" .. slug .. "/me", "Bearer " .. token } end
end
assert(#entries > 0, "no tokens in TOKENS_FILE")
math.randomseed(os.time())

request = function()
  local e = entries[math.random(#entries)]
  return wrk.format("GET", e[1], { ["Authorization"] = e[2] })
end

done = function(summary, latency, _)
  local s = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d\n",
    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status))
end
