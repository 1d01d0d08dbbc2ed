-- leader-release: gives the lease up if this instance still holds it under
-- its acquisition, so a standby takes over at once.
-- KEYS[1] leader lease key of the source (value `<instance>/<token>`)
-- ARGV[1] `<instance>/<token>` of the caller
-- Returns 1 if released, 0 if not held by this instance.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
