-- lease-fill: write a loaded value only if the caller still holds the lease.
-- The daemon UNLINKs the lease together with the data key when the row
-- changes, so a fill that read the database before that change finds its
-- lease gone (or replaced by a newer reader's) and is dropped: no stale set.
-- KEYS[1] data key
-- KEYS[2] lease key of the data key (same cluster slot)
-- ARGV[1] lease token the caller was granted
-- ARGV[2] encoded entry
-- ARGV[3] TTL of the entry in ms
-- Returns 1 if written, 0 if the lease was lost (nothing written).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
