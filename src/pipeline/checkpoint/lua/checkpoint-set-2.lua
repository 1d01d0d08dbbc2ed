-- checkpoint-set: stores the checkpoint only where and while it is valid.
-- Fenced: only while the fencing counter still holds the writer's token, so a
-- leader that lost its lease (a standby took over with a higher token) can
-- never move the checkpoint again. Primary-checked: only on the server and
-- dataset the writer checked (run_id and replication id, as
-- primary-identity-1 reports them): after a failover to a replica that
-- lacks some acknowledged deletes, or a restart that lost some, a write
-- built from acknowledgements of the old primary (e.g. resent by the client
-- on reconnect) must not claim them on the new one.
-- KEYS[1] fencing counter of the source (same cluster slot as KEYS[2])
-- KEYS[2] checkpoint key of the source
-- ARGV[1] the writer's fencing token, or '' (not fenced)
-- ARGV[2] checkpoint JSON
-- ARGV[3] the expected "run_id:master_replid", or '' (not checked)
-- Returns 1 if written, 0 if fenced off, -1 if this is another primary or dataset.
if ARGV[3] ~= '' then
  local server = redis.call('INFO', 'server')
  local replication = redis.call('INFO', 'replication')
  local run_id = string.match(server, 'run_id:(%x+)') or ''
  local replid = string.match(replication, 'master_replid:(%x+)') or ''
  if run_id .. ':' .. replid ~= ARGV[3] then
    return -1
  end
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
