-- leader-acquire: takes the lease if nobody holds it, with a new fencing token.
-- KEYS[1] leader lease key of the source
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- Returns the new fencing token, or 0 if another instance holds the lease.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
