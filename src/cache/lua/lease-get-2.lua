-- lease-get: read a cached entry, or take the fill lease on a miss.
-- KEYS[1] data key
-- KEYS[2] lease key of the data key (same cluster slot)
-- ARGV[1] lease token (random, unique per fill)
-- ARGV[2] lease period in ms
-- Returns {1, value}   hit
--         {2, ''}      miss, lease granted to ARGV[1]: load and fill
--         {3, pttl}    miss, another reader holds the lease: wait for its fill
local v = redis.call('GET', KEYS[1])
if v then
  return {1, v}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2, ''}
end
return {3, tostring(redis.call('PTTL', KEYS[2]))}
