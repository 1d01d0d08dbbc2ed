-- round: the end of one round trip of the daemon to a single Redis
-- (SingleRedisTransport, RoundCommand): the checkpoint write of batches
-- acknowledged earlier, then each batch's PUBLISH, in order. The round's
-- UNLINKs (keys and lease keys) are plain commands written just before it on
-- the same connection, so a subscriber that sees a message finds its keys
-- already gone. A round of one batch without a checkpoint does not use it:
-- it ends with a plain PUBLISH. Not a script on its own: RoundCommand
-- prefixes it with checkpoint-set-2 as the function checkpoint_set(KEYS, ARGV).
-- KEYS[1] fencing counter of the source (checkpoint-set-2's KEYS[1])
-- KEYS[2] checkpoint key of the source (checkpoint-set-2's KEYS[2])
-- ARGV[1] '1' when a checkpoint write rides, '' when none does
-- ARGV[2..4] checkpoint-set-2's ARGV: fencing token, checkpoint JSON, expected primary
-- ARGV[5] the invalidation channel
-- ARGV[6..] each batch's message, in order
-- Returns checkpoint-set-2's reply (1 written, 0 fenced off, -1 another
-- primary or dataset), or 2 when no checkpoint rode. A refused checkpoint
-- does not hold back the messages: announcing deleted keys is always safe.
local outcome = 2
if ARGV[1] == '1' then
  outcome = checkpoint_set({ KEYS[1], KEYS[2] }, { ARGV[2], ARGV[3], ARGV[4] })
end
for a = 6, #ARGV do
  redis.call('PUBLISH', ARGV[5], ARGV[a])
end
return outcome
