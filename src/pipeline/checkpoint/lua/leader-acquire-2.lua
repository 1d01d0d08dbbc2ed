-- leader-acquire: takes the lease if nobody holds it, with a new fencing
-- token. The lease's value is `<instance>/<token>`: it says who holds it and
-- under which acquisition, so a holder can never adopt a token issued to
-- another acquisition.
-- KEYS[1] leader lease key of the source
-- KEYS[2] fencing counter of the source (same cluster slot)
-- ARGV[1] this instance's id
-- ARGV[2] lease period in ms
-- Returns the new fencing token, or 0 if another instance holds the lease.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. token, 'PX', ARGV[2])
return token
