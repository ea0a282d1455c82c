"""The Lua scripts of the Redis broker; each runs atomically inside Redis.

Key layout (every key carries the ``global_keyprefix``, written ``P`` here):

* ``P<queue>``, ``P<queue>␆3``, ``P<queue>␆6``, ``P<queue>␆9``: kombu's priority lists.
* ``Punacked`` (hash: lease tag -> ``[envelope, exchange, routing_key]``) and
  ``Punacked_index`` (sorted set: lease tag scored by delivery time): kombu's ack
  emulation, so Celery workers restore celeriac's lost messages and vice versa.
* ``P_celeriac.eta`` (sorted set: queue scored by its earliest eta) and
  ``P_celeriac.eta.<queue>`` (sorted set: ``"<bucket>:<envelope>"`` scored by eta): the
  countdown/ETA messages held broker-side until due.
* ``P_celeriac.wake.<queue>`` (list of at most one token): pushed by celeriac publishers
  so an idle celeriac consumer blocked in ``BRPOP`` on it (and on the lists) wakes at
  once and takes the message with ``TAKE``; ``P_celeriac.wake_eta``, the same for any
  queue's consumer when an eta message is held (see ``_redis_idle``).

Scripts build the list, eta and wake key names from the prefix and separator they are
given, as kombu's own scripts do; like kombu, the broker needs a single Redis node.
"""

from __future__ import annotations

__all__ = ["ACK", "ETA", "PUBLISH", "RELEASE", "TAKE", "WAKE_TTL"]

#: Seconds a wake token lives when no consumer takes it (written into the scripts).
WAKE_TTL = 300

_WAKE = """
local function wake(key)
    if redis.call('LLEN', key) == 0 then
        redis.call('LPUSH', key, '1')
        redis.call('EXPIRE', key, 300)
    end
end
"""

#: Append envelopes (in order) to each destination list, waking their consumers.
#: The wake-up token goes first: a consumer blocked on both the wake-up key and the list
#: is served the token, and takes the messages with TAKE (atomically leased), rather than
#: popping one itself.
#: KEYS: list_1, wake_1, list_2, wake_2, ...; ARGV: the envelopes (at most a few hundred).
PUBLISH = (
    _WAKE
    + """
for i = 1, #KEYS, 2 do
    wake(KEYS[i + 1])
    redis.call('LPUSH', KEYS[i], unpack(ARGV))
end
return 1
"""
)

#: Hold one envelope until its eta, and wake a consumer of the queue and one of any
#: queue (an idle consumer only takes again when something wakes it or a moment its
#: last take saw comes due: the one woken learns of this eta and moves it when due).
#: KEYS: the queue's eta set, the eta index, the queue's wake key, the eta wake key.
#: ARGV: eta (unix seconds), "<bucket>:<envelope>", queue name.
ETA = (
    _WAKE
    + """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[2], first[2], ARGV[3])
wake(KEYS[3])
wake(KEYS[4])
return 1
"""
)

#: Move due eta messages to the head of their lists, then take up to ``limit`` messages
#: from the lists given (in order, each from its consuming end) and record each as
#: unacked under a new lease tag, all in one step: no window where a message is neither
#: in a list nor in ``unacked``.
#:
#: An idle consumer blocks in ``BRPOP`` on its wake-up keys and lists; when that pops a
#: message (one a Celery client pushed, with no wake-up token), the consumer hands it in
#: as ``ARGV[7]``, from list number ``ARGV[6]``, and it is recorded first.
#:
#: KEYS: unacked, unacked_index, eta index, list_1 ... list_n.
#: ARGV: now, limit, lease token, key prefix, separator, adopted list number (0: none),
#:       adopted envelope, queue of list_1 ... list_n.
#: Returns: {earliest eta or false, earliest unacked score or false,
#:           list number, lease tag, envelope, list number, lease tag, envelope, ...}.
TAKE = (
    _WAKE
    + """
local now, limit, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local prefix, sep = ARGV[4], ARGV[5]
-- A client retries a call whose connection was lost with the same arguments: if this
-- token was used, the first run's reply was lost. Its messages keep their leases (and
-- come back when these expire); overwriting them would lose them.
local retried = false
while redis.call('HEXISTS', KEYS[1], token .. ':1') == 1 do
    token = token .. '+'
    retried = true
end

local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 16)
for _, queue in ipairs(due) do
    local zkey = prefix .. '_celeriac.eta.' .. queue
    local items = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, 100)
    for j = #items, 1, -1 do
        local member = items[j]
        local colon = string.find(member, ':', 1, true)
        local bucket = string.sub(member, 1, colon - 1)
        local list = prefix .. queue
        if bucket ~= '0' then list = list .. sep .. bucket end
        redis.call('RPUSH', list, string.sub(member, colon + 1))
        redis.call('ZREM', zkey, member)
    end
    local first = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
    if first[1] then
        redis.call('ZADD', KEYS[3], first[2], queue)
    else
        redis.call('ZREM', KEYS[3], queue)
    end
    if #items > 0 then wake(prefix .. '_celeriac.wake.' .. queue) end
end

local out = {false, false}
local taken = 0
local function record(i, payload)
    taken = taken + 1
    local tag = token .. ':' .. taken
    local queue = ARGV[i + 4]
    local entry
    if pcall(cjson.decode, payload) then
        entry = '[' .. payload .. ', "", ' .. cjson.encode(queue) .. ']'
    else
        entry = cjson.encode({payload, '', queue})
    end
    redis.call('ZADD', KEYS[2], now, tag)
    redis.call('HSET', KEYS[1], tag, entry)
    out[#out + 1] = i - 3
    out[#out + 1] = tag
    out[#out + 1] = payload
end

-- On a retry the adopted message was recorded by the first run, with its batch.
local adopted = tonumber(ARGV[6])
if adopted > 0 and not retried then record(adopted + 3, ARGV[7]) end
for i = 4, #KEYS do
    while taken < limit do
        local payload = redis.call('RPOP', KEYS[i])
        if not payload then break end
        record(i, payload)
    end
    if taken >= limit then
        -- Others may be waiting for what is left: pass the wake-up on.
        if redis.call('LLEN', KEYS[i]) > 0 then
            wake(prefix .. '_celeriac.wake.' .. ARGV[i + 4])
        end
        break
    end
end

local next_eta = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
out[1] = next_eta[2] or false
out[2] = oldest[2] or false
return out
"""
)

#: End a lease: if ``tag`` is still leased (and delivered no later than ``ceiling``),
#: forget it and push ``envelope`` (if not empty) to each destination list, at the
#: consuming end (``rpush``: restore) or the far end (``lpush``: requeue, dead-letter).
#: KEYS: unacked, unacked_index, list_1, wake_1, list_2, wake_2, ...
#: ARGV: tag, envelope, "rpush" | "lpush", ceiling (unix seconds).
#: Returns 1 if the lease was held, else 0.
RELEASE = (
    _WAKE
    + """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[4]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
    for i = 3, #KEYS, 2 do
        if ARGV[3] == 'rpush' then
            redis.call('RPUSH', KEYS[i], ARGV[2])
        else
            redis.call('LPUSH', KEYS[i], ARGV[2])
        end
        wake(KEYS[i + 1])
    end
end
return 1
"""
)

#: Ack several leases. KEYS: unacked, unacked_index. ARGV: tags.
#: Returns the positions (1-based) of the tags that were no longer leased.
ACK = """
local lost = {}
for i, tag in ipairs(ARGV) do
    if redis.call('ZREM', KEYS[2], tag) == 1 then
        redis.call('HDEL', KEYS[1], tag)
    else
        lost[#lost + 1] = i
    end
end
return lost
"""
