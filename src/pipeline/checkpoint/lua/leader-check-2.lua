-- leader-check: whether this instance holds the lease, and the fencing token
-- that goes with it (the counter's value: every acquisition increments it
-- atomically with taking the lease, so while this instance holds the lease
-- the current value is its own).
-- KEYS[1] leader lease key of the source
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- Returns the token, or 0 if another instance (or nobody) holds the lease.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return 0
