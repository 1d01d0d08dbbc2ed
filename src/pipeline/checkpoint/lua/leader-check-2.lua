-- leader-check: after a fenced-off checkpoint write, whether this instance
-- holds the lease under the latest acquisition, and that acquisition's token
-- (it re-took its own expired lease, and the reply carrying the new token did
-- not reach it before the write was built). A lease held under an older
-- token, or by another instance, is not this instance's to use.
-- KEYS[1] leader lease key of the source (value `<instance>/<token>`)
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- Returns the token, or 0.
local token = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('GET', KEYS[1]) == ARGV[1] .. '/' .. token then
  return token
end
return 0
