-- leader-check: after a fenced-off checkpoint write, whether this instance
-- holds the lease under the latest acquisition, and that acquisition's token
-- (it re-took its own expired lease, and the reply carrying the new token did
-- not reach it before the write was built). A lease held under an older
-- token, or by another instance, is not this instance's to use. A lease that
-- nobody holds (the primary Redis failed over to never had it, or had it
-- expire) is taken with a new token, as leader-renew does.
-- KEYS[1] leader lease key of the source (value `<instance>/<token>`)
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- Returns the token, or 0.
local token = tonumber(redis.call('GET', KEYS[2]) or '0')
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] .. '/' .. token then
  return token
end
if not holder then
  local taken = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '/' .. taken, 'PX', ARGV[2])
  return taken
end
return 0
