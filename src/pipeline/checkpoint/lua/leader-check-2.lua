-- leader-check: whether this instance holds the lease, and the fencing token
-- that goes with it (the counter's value: every acquisition increments it
-- atomically with taking the lease, so while this instance holds the lease
-- the current value is its own). A lease that nobody holds (it expired during
-- a Redis outage, or the primary that Redis failed over to never had it) is
-- taken, with a new token, as leader-renew does.
-- KEYS[1] leader lease key of the source
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- Returns the token, or 0 if another instance holds the lease.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return 0
