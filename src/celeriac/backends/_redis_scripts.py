"""The Lua scripts of the Redis result backend; each runs atomically inside Redis."""

from __future__ import annotations

__all__ = ["CHORD_CLEANUP", "CHORD_PART_RETURN", "SET_RESULT"]

#: Store a value and PUBLISH it on a channel named like the key (Celery's SETEX +
#: PUBLISH), unless it is not ready and the stored value is.
#:
#: Readiness of the stored value is read from the value itself: the ``status`` of a
#: JSON or msgpack meta, else the first state name found near the start (pickle, yaml).
#: A ready value in no such form (only raw writes make one) is remembered by a marker
#: key next to it, ``<key>.ready``, with the same lifetime.
#:
#: KEYS: key, marker key. ARGV: value, ttl in milliseconds (0: none), "1" if ready.
#: Returns 1 if stored, 0 if a ready value was kept.
SET_RESULT = """
local READY = {SUCCESS = true, FAILURE = true, REVOKED = true}
local STATES = {'PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE',
                'REVOKED', 'REJECTED', 'IGNORED'}

local function status_of(value)
    local status = string.match(value, '^%s*{%s*"status"%s*:%s*"(%u+)"')
    if status then return status end
    local ok, meta = pcall(cjson.decode, value)
    if ok and type(meta) == 'table' and type(meta['status']) == 'string' then
        return meta['status']
    end
    ok, meta = pcall(cmsgpack.unpack, value)
    if ok and type(meta) == 'table' and type(meta['status']) == 'string' then
        return meta['status']
    end
    local head, first, found = string.sub(value, 1, 96), nil, nil
    for _, name in ipairs(STATES) do
        local at = string.find(head, name, 1, true)
        if at and (first == nil or at < first) then first, found = at, name end
    end
    return found
end

if ARGV[3] == '0' then
    local current = redis.call('GET', KEYS[1])
    if current then
        local status = status_of(current)
        if (status and READY[status]) or
                (status == nil and redis.call('EXISTS', KEYS[2]) == 1) then
            return 0
        end
    end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
    if ttl % 1000 == 0 then
        redis.call('SETEX', KEYS[1], ttl / 1000, ARGV[1])
    else
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
    end
else
    redis.call('SET', KEYS[1], ARGV[1])
end
if ARGV[3] == '1' and status_of(ARGV[1]) == nil then
    if ttl > 0 then
        redis.call('SET', KEYS[2], '1', 'PX', ttl)
    else
        redis.call('SET', KEYS[2], '1')
    end
else
    redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""

#: Celery 5.7's chord join: record one finished header task (once, even if it ran
#: twice), refresh the expiry of the chord keys, and when every part is in, claim the
#: right to send the body.
#:
#: KEYS: .j, .t, .s, .d, the group key, .c (under ``celery-taskset-meta-<group id>``).
#: ARGV: task id, encoded [1, task id, state, result], "1" (ordered), group index or
#: "+inf", chord expiry (s, 0: none), group expiry (s, 0: none), claim expiry (s),
#: claim token. Returns {count, .t, .s, claimed (0|1)}, or {-1, 0, 0, 0} when done.
CHORD_PART_RETURN = """
local jkey, tkey, skey, dkey, gkey, ckey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tid, value, ordered, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local expires, group_expires = tonumber(ARGV[5]), tonumber(ARGV[6])
local claim_expires, claim_token = tonumber(ARGV[7]), ARGV[8]

if redis.call('GET', ckey) == 'done' then
    return {-1, 0, 0, 0}
end
local member = tid .. ':' .. score
if redis.call('SISMEMBER', dkey, member) == 0 then
    if ordered == '1' then
        redis.call('ZADD', jkey, score, value)
    else
        redis.call('RPUSH', jkey, value)
    end
    redis.call('SADD', dkey, member)
end
local count
if ordered == '1' then
    count = redis.call('ZCOUNT', jkey, '-inf', '+inf')
else
    count = redis.call('LLEN', jkey)
end
if expires > 0 then
    for _, key in ipairs({jkey, tkey, skey, dkey}) do
        redis.call('EXPIRE', key, expires)
    end
    if group_expires > 0 then
        redis.call('EXPIRE', gkey, group_expires)
    end
end
local diff = redis.call('GET', tkey)
local size = redis.call('GET', skey)
local claimed = 0
if size and count == tonumber(size) + tonumber(diff or 0) then
    if redis.call('SET', ckey, claim_token, 'NX', 'EX', claim_expires) then
        claimed = 1
    end
end
return {count, diff or false, size or false, claimed}
"""

#: Celery 5.7's chord clean-up by the claimer: delete the join keys and leave a
#: ``done`` marker so late duplicates of a header task do nothing.
#: KEYS: .c, .j, .t, .s, .d. ARGV: claim token, marker expiry (s).
CHORD_CLEANUP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
    redis.call('SET', KEYS[1], 'done', 'EX', tonumber(ARGV[2]))
    return 1
end
return 0
"""
