-- lease-take: a writer (write-through) takes the lease unconditionally, so
-- a reader's fill that started before the write can no longer land, and
-- drops the cached value the write is about to make old.
-- KEYS[1] data key
-- KEYS[2] lease key of the data key (same cluster slot)
-- ARGV[1] lease token of the writer
-- ARGV[2] lease period in ms
-- Returns 1.
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('UNLINK', KEYS[1])
return 1
