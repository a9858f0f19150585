package redisstore

import "github.com/redis/go-redis/v9"

// scripts are the Lua scripts that make each write one atomic round trip.
// Times are microseconds since the Unix epoch, lifetimes milliseconds;
// both arrive as decimal strings and are handed on to Redis as they came,
// because Lua would print a large number with too few digits.
type scripts struct {
	createSession, updateSession, touchSession, deleteSession *redis.Script
	deleteAccountSessions, sweepSessions                      *redis.Script
	createFlow, updateFlow                                    *redis.Script
	put, putIfAbsent                                          *redis.Script
	incr, reset, sweepCounters                                *redis.Script
	sweep                                                     *redis.Script
}

func newScripts() scripts {
	return scripts{
		createSession:         redis.NewScript(luaAddToAccount + luaCreateSession),
		updateSession:         redis.NewScript(luaAddToAccount + luaUpdateSession),
		touchSession:          redis.NewScript(luaAddToAccount + luaTouchSession),
		deleteSession:         redis.NewScript(luaDeleteSession),
		deleteAccountSessions: redis.NewScript(luaDeleteAccountSessions),
		sweepSessions:         redis.NewScript(luaSweepSessions),
		createFlow:            redis.NewScript(luaCreateFlow),
		updateFlow:            redis.NewScript(luaUpdateFlow),
		put:                   redis.NewScript(luaPut + "return 1\n"),
		putIfAbsent:           redis.NewScript(luaPutIfAbsent),
		incr:                  redis.NewScript(luaIncr),
		reset:                 redis.NewScript(luaReset),
		sweepCounters:         redis.NewScript(luaSweepCounters),
		sweep:                 redis.NewScript(luaSweep),
	}
}

func (s scripts) all() []*redis.Script {
	return []*redis.Script{
		s.createSession, s.updateSession, s.touchSession, s.deleteSession,
		s.deleteAccountSessions, s.sweepSessions,
		s.createFlow, s.updateFlow,
		s.put, s.putIfAbsent,
		s.incr, s.reset, s.sweepCounters,
		s.sweep,
	}
}

// luaAddToAccount defines addacct: put a session id in its account's set
// and keep the set at least as long as the session.
const luaAddToAccount = `
local function addacct(k, id, ttl)
  redis.call('SADD', k, id)
  if redis.call('PTTL', k) < tonumber(ttl) then redis.call('PEXPIRE', k, ttl) end
end
`

// KEYS: session, session index. ARGV: id, account, data, created,
// last seen, expires, absolute expiry, the earlier of the two, lifetime,
// account set prefix. Returns 0 when the id is taken.
const luaCreateSession = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'd', ARGV[3], 'c', ARGV[4], 'l', ARGV[5], 'e', ARGV[6], 'x', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
if ARGV[2] ~= '' then addacct(ARGV[10] .. ARGV[2], ARGV[1], ARGV[9]) end
return 1
`

// KEYS: session, session index. ARGV: id, account, data, last seen,
// expires, absolute expiry, the earlier of the two, lifetime, account set
// prefix. Returns 0 when the session is gone.
const luaUpdateSession = `
local old = redis.call('HGET', KEYS[1], 'a')
if not old then return 0 end
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'd', ARGV[3], 'l', ARGV[4], 'e', ARGV[5], 'x', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
if old ~= '' and old ~= ARGV[2] then redis.call('SREM', ARGV[9] .. old, ARGV[1]) end
if ARGV[2] ~= '' then addacct(ARGV[9] .. ARGV[2], ARGV[1], ARGV[8]) end
return 1
`

// KEYS: session, session index. ARGV: id, last seen, expires, the
// store's now, grace in milliseconds, account set prefix. The lifetime
// depends on the stored absolute expiry, so it is worked out here.
// Returns 0 when the session is gone.
const luaTouchSession = `
local f = redis.call('HMGET', KEYS[1], 'a', 'x')
if not f[1] then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[2], 'e', ARGV[3])
local untilus = ARGV[3]
if tonumber(f[2]) < tonumber(untilus) then untilus = f[2] end
local left = tonumber(untilus) - tonumber(ARGV[4])
if left < 0 then left = 0 end
local ttl = string.format('%d', math.max(math.ceil(left / 1000) + tonumber(ARGV[5]), 1))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], untilus, ARGV[1])
if f[1] ~= '' then addacct(ARGV[6] .. f[1], ARGV[1], ttl) end
return 1
`

// KEYS: session, session index. ARGV: id, account set prefix.
const luaDeleteSession = `
local a = redis.call('HGET', KEYS[1], 'a')
if a then
  redis.call('DEL', KEYS[1])
  if a ~= '' then redis.call('SREM', ARGV[2] .. a, ARGV[1]) end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`

// KEYS: account set, session index. ARGV: account id, session prefix.
// Returns how many sessions it ended.
const luaDeleteAccountSessions = `
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[2] .. id
  if redis.call('HGET', k, 'a') == ARGV[1] then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[2], id)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1])
return n
`

// KEYS: session index. ARGV: now, batch, session prefix, account set
// prefix. Returns how many sessions it deleted and how many index entries
// it looked at.
const luaSweepSessions = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, id in ipairs(ids) do
  local k = ARGV[3] .. id
  local a = redis.call('HGET', k, 'a')
  if a then
    redis.call('DEL', k)
    n = n + 1
    if a ~= '' then redis.call('SREM', ARGV[4] .. a, id) end
  end
  redis.call('ZREM', KEYS[1], id)
end
return {n, #ids}
`

// luaWriteFlow stores a flow. KEYS: flow, flow index. ARGV: id, kind,
// session, state, version, created, updated, expires, lifetime.
const luaWriteFlow = `
redis.call('HSET', KEYS[1], 'k', ARGV[2], 's', ARGV[3], 'st', ARGV[4], 'v', ARGV[5], 'c', ARGV[6], 'u', ARGV[7], 'e', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
return 1
`

// Returns 0 when the id is taken.
const luaCreateFlow = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
` + luaWriteFlow

// ARGV[10] is the version the caller read. Returns -1 when the flow is
// gone and 0 when its version moved.
const luaUpdateFlow = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[10] then return 0 end
` + luaWriteFlow

// luaPut stores a value. KEYS: key, kv index. ARGV: key, value, expires,
// lifetime.
const luaPut = `
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
`

// ARGV[5] is the store's now. Returns {1} when it stored, {0, value}
// when a live value holds the key.
const luaPutIfAbsent = `
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
if cur[1] and tonumber(cur[2]) > tonumber(ARGV[5]) then return {0, cur[1]} end
` + luaPut + `
return {1}
`

// KEYS: window, the key's set of windows, counter index. ARGV: n,
// lifetime, window end. A new window (one without a lifetime yet) gets
// its lifetime and joins both indexes. Returns the window's total.
const luaIncr = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[1])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
  redis.call('ZADD', KEYS[3], ARGV[3], KEYS[1])
end
return total
`

// KEYS: the key's set of windows, counter index.
const luaReset = `
local ws = redis.call('SMEMBERS', KEYS[1])
for _, w in ipairs(ws) do
  redis.call('DEL', w)
  redis.call('ZREM', KEYS[2], w)
end
redis.call('DEL', KEYS[1])
return #ws
`

// KEYS: counter index. ARGV: now, batch, window set prefix, window
// prefix. A window's name is <window prefix><key>:<length>:<start>.
const luaSweepCounters = `
local ws = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, w in ipairs(ws) do
  n = n + redis.call('DEL', w)
  local key = string.match(string.sub(w, #ARGV[4] + 1), '^(.*):%-?%d+:%-?%d+$')
  if key then redis.call('SREM', ARGV[3] .. key, w) end
  redis.call('ZREM', KEYS[1], w)
end
return {n, #ws}
`

// luaSweep deletes the flows or keys that expired. KEYS: index. ARGV:
// now, batch, record prefix.
const luaSweep = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', ARGV[3] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return {n, #ids}
`
