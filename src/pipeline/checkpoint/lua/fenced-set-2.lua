-- fenced-set: stores the checkpoint only while the fencing counter still
-- holds the writer's token, so a leader that lost its lease (and a standby
-- took over with a higher token) can never move the checkpoint again.
-- KEYS[1] fencing counter of the source (same cluster slot as KEYS[2])
-- KEYS[2] checkpoint key of the source
-- ARGV[1] the writer's fencing token
-- ARGV[2] checkpoint JSON
-- Returns 1 if written, 0 if fenced off.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
