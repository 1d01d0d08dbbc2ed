-- leader-renew: extends the lease of its holder (the same instance under the
-- same acquisition). A lease that expired while nobody else took it (e.g.
-- Redis was away longer than the lease) is re-taken by its last holder with a
-- new fencing token, which the caller must adopt before its next checkpoint
-- write.
-- KEYS[1] leader lease key of the source (value `<instance>/<token>`)
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- ARGV[3] the token this instance holds
-- Returns 1 renewed; -token re-taken with that new token; 0 held by another.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] .. '/' .. ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  local token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '/' .. token, 'PX', ARGV[2])
  return -token
end
return 0
