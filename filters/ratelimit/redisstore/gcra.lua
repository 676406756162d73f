-- GCRA step for one key; see doc.go. Runs atomically inside Redis.
-- KEYS[1]  the key (its whole identity is one hash tag)
-- ARGV[1]  T, the emission interval, microseconds
-- ARGV[2]  tau, the tolerance burst*T, microseconds
-- ARGV[3]  n: take up to n (>= 1), or give back -n (< 0)
-- ARGV[4]  now in microseconds, or "" for the server clock (tests only)
-- Returns {granted, TAT - now}; granted 0 is a refusal.
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now
-- the key expires with its TAT; a supplied clock is not Redis's, so its
-- keys get a minute more, lest they expire while a test's clock stands still
local slack = 0
if ARGV[4] ~= nil and ARGV[4] ~= "" then
  now = tonumber(ARGV[4])
  slack = 60000
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local granted = 0
if n < 0 then
  tat = math.max(tat + n * T, now)
else
  local fit = math.floor((tau - (tat - now)) / T)
  granted = math.min(n, fit)
  if granted < 1 then
    return {0, tat - now}
  end
  tat = tat + granted * T
end
if tat > now then
  -- the TAT is written as a whole number (%.0f), never in exponent form
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + slack)
else
  redis.call('DEL', KEYS[1])
end
return {granted, tat - now}
