-- round: one round trip of the daemon to a single Redis, as one command
-- (SingleRedisTransport, RoundCommand): the checkpoint write of batches
-- acknowledged earlier, then per batch its UNLINKs (keys and lease keys) and
-- its PUBLISH, in that order, so a subscriber that sees a message finds its
-- keys already gone. Not a script on its own: RoundCommand prefixes it with
-- checkpoint-set-2 as the function checkpoint_set(KEYS, ARGV).
-- KEYS[1] fencing counter of the source (checkpoint-set-2's KEYS[1])
-- KEYS[2] checkpoint key of the source (checkpoint-set-2's KEYS[2])
-- KEYS[3..] per batch, in order: each key, then its lease key
-- ARGV[1] '1' when a checkpoint write rides, '' when none does
-- ARGV[2..4] checkpoint-set-2's ARGV: fencing token, checkpoint JSON, expected primary
-- ARGV[5] the invalidation channel
-- ARGV[6..] per batch, in order: how many of KEYS are its own, its message
-- Returns checkpoint-set-2's reply (1 written, 0 fenced off, -1 another
-- primary or dataset), or 2 when no checkpoint rode. A refused checkpoint
-- does not hold back the batches: deleting and announcing is always safe.
local outcome = 2
if ARGV[1] == '1' then
  outcome = checkpoint_set({ KEYS[1], KEYS[2] }, { ARGV[2], ARGV[3], ARGV[4] })
end
local k = 3
for a = 6, #ARGV, 2 do
  local last = k + tonumber(ARGV[a]) - 1
  while k <= last do
    -- unpack() of a few thousand values at most: Lua's C stack is bounded.
    local upto = math.min(k + 999, last)
    redis.call('UNLINK', unpack(KEYS, k, upto))
    k = upto + 1
  end
  redis.call('PUBLISH', ARGV[5], ARGV[a + 1])
end
return outcome
