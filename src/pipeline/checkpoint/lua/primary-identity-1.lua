-- primary-identity: which server and dataset answers for the checkpoint.
-- The run_id changes with every start of a server (a restart may have lost
-- writes), the replication id with every promotion and every full resync
-- (a replica's dataset replaced the server's).
-- KEYS[1] checkpoint key of the source (not read: it routes the call to the
--         node that holds the checkpoint on a cluster)
-- Returns {role, run_id, master_replid}; role is "master" or "slave".
local server = redis.call('INFO', 'server')
local replication = redis.call('INFO', 'replication')
return {
  string.match(replication, 'role:(%a+)') or '',
  string.match(server, 'run_id:(%x+)') or '',
  string.match(replication, 'master_replid:(%x+)') or '',
}
