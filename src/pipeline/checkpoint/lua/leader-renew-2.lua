-- leader-renew: extends the lease of its holder. A lease that expired while
-- nobody else took it (e.g. Redis was away longer than the lease) is re-taken
-- by its last holder with a new fencing token, which the caller must adopt
-- before its next checkpoint write.
-- KEYS[1] leader lease key of the source
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- Returns 1 renewed; -token re-taken with that new token; 0 held by another.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return -redis.call('INCR', KEYS[2])
end
return 0
