"""The fleet's Lua scripts, run atomically by Redis, and the queue members they read.

A queued request is a ZSET member ``"<priority>|<id>|<payload>"`` (``make_member``): the
scripts that put a request back in the queue read its priority from it. See
``crawler.distributed`` for what each script is for, ``crawler.distributed_keys`` for the
keys they take.
"""

from __future__ import annotations

import uuid
from typing import Any

from crawler.distributed_keys import rate_key

NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

# A claimed page reached again by a shorter way: its fewest related-link hops (KEYS hops)
# and listing hops (KEYS depths) are lowered, and what it had cut at a limit that the new
# count allows (KEYS cut: its article's related links; cutlinks: its links) is taken and
# returned as {related, links} ('' for none), else false. ARGV-style strings; depth '' =
# not reached as a listing or candidate.
SHORTER_FN = """
local function shorter(hops, depths, cut, cutlinks, key, hop, depth, rlimit, dlimit)
  local best = redis.call('HGET', hops, key)
  if not best then return false end
  local rel, links = '', ''
  if tonumber(hop) < tonumber(best) then
    redis.call('HSET', hops, key, hop)
    if tonumber(hop) < tonumber(rlimit) then
      rel = redis.call('HGET', cut, key) or ''
      if rel ~= '' then redis.call('HDEL', cut, key) end
    end
  end
  if depth ~= '' then
    local bd = redis.call('HGET', depths, key)
    if not bd or tonumber(depth) < tonumber(bd) then
      redis.call('HSET', depths, key, depth)
      if tonumber(depth) < tonumber(dlimit) then
        links = redis.call('HGET', cutlinks, key) or ''
        if links ~= '' then redis.call('HDEL', cutlinks, key) end
      end
    end
  end
  if rel == '' and links == '' then return false end
  return {rel, links}
end
"""

# KEYS: seen, queue, hops, depths, cut, cutlinks; ARGV: claim key ('' = no claim), score,
# member, hop ('' = none), depth ('' = none), related_depth, depth limit -> 1 pushed,
# 0 duplicate, or (a duplicate reached by a shorter way) what it had cut: {related, links}
PUSH = SHORTER_FN + """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
    if ARGV[4] == '' then return 0 end
    return shorter(KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[4], ARGV[5], ARGV[6],
                   ARGV[7]) or 0
  end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[5]) end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: hops, depths, cut, cutlinks; ARGV: key, hop, depth, related_depth, depth limit ->
# what a shorter way to the page released ({related, links}), else nil
SHORTER = SHORTER_FN + """
return shorter(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
               ARGV[5])
"""

# KEYS: the page's count (hops or depths), its cut (cut or cutlinks); ARGV: key, limit,
# links (JSON) -> -1 stored; or the page's count, lowered below the limit meanwhile by
# another way to it: the links are to be followed now
CUT = """
local best = redis.call('HGET', KEYS[1], ARGV[1])
if best and tonumber(best) < tonumber(ARGV[2]) then return tonumber(best) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return -1
"""

# KEYS: queue, inflight; ARGV: lease ms -> the leased member or nil
LEASE = NOW_MS + """
local m = redis.call('ZRANGE', KEYS[1], 0, 0)
if #m == 0 then return false end
redis.call('ZREM', KEYS[1], m[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), m[1])
return m[1]
"""

# KEYS: inflight; ARGV: lease ms, members... -> how many are still ours
RENEW = NOW_MS + """
local n = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
    n = n + 1
  end
end
return n
"""

# KEYS: inflight, queue; ARGV: members -> how many went back to the queue
GIVE_BACK = """
local n = 0
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], -tonumber(string.match(ARGV[i], '^(-?%d+)|')), ARGV[i])
    n = n + 1
  end
end
return n
"""

# KEYS: inflight, queue, requeued counter -> how many expired leases went back to the queue
REAP = NOW_MS + """
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, m in ipairs(ms) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], -tonumber(string.match(m, '^(-?%d+)|')), m)
end
if #ms > 0 then redis.call('INCRBY', KEYS[3], #ms) end
return #ms
"""

# KEYS: queue, inflight, finished -> 1 this call ended the run, 0 it had ended, -1 not drained
DRAINED = NOW_MS + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[1]) > 0 or redis.call('ZCARD', KEYS[2]) > 0 then return -1 end
redis.call('SET', KEYS[3], now)
return 1
"""

# KEYS: rate key; ARGV: delay ms -> ms to wait before the reserved slot
RATE = NOW_MS + """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return slot - now
"""


class Scripts:
    """The Lua scripts registered on one Redis client."""

    def __init__(self, server: Any) -> None:
        self.push = server.register_script(PUSH)
        self.shorter = server.register_script(SHORTER)
        self.cut = server.register_script(CUT)
        self.lease = server.register_script(LEASE)
        self.renew = server.register_script(RENEW)
        self.give_back = server.register_script(GIVE_BACK)
        self.reap = server.register_script(REAP)
        self.drained = server.register_script(DRAINED)
        self.rate = server.register_script(RATE)


def make_member(priority: int, payload: bytes) -> bytes:
    return b"%d|%s|" % (int(priority), uuid.uuid4().hex.encode()) + payload


def member_payload(member: bytes) -> bytes:
    return member.split(b"|", 2)[2]


def rate_wait(server: Any, scripts: Scripts, host: str, delay_s: float) -> float:
    """Reserve the next download slot of ``host`` (shared by every worker): seconds to wait."""
    if delay_s <= 0:
        return 0.0
    wait_ms = scripts.rate(keys=[rate_key(host)], args=[int(delay_s * 1000)])
    return max(0, int(wait_ms)) / 1000.0
