"""`LeaseSet`: the Redis side of the budget — leases with expiry, taken atomically by Lua.

Per budget key, under the deployment's queue name (several deployments may share a Redis):

```text
<queue>:directo-budget:<key>:leases    sorted set: lease id -> expiry (ms, Redis clock)
<queue>:directo-budget:<key>:waiting   sorted set: interactive waiter id -> expiry (ms)
<queue>:directo-budget:released        pub/sub channel: a key whose slot was given back
```

A lease is granted while fewer than `cap` unexpired leases exist — for bulk work only while
more than `reserved` slots, plus one per interactive waiter, are free. Expired leases and
waiters are dropped by every script before it counts, so a process that died (and stopped
renewing) frees its slots within one lease time. Times are Redis's own (`TIME`), so the
clocks of the workers do not matter. Both sets expire as a whole when nobody touches them.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: leases, waiting. ARGV: id, cap, reserved, interactive (1/0), lease ms, waiter ms.
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local lease_ms, waiter_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local keep = 2 * math.max(lease_ms, waiter_ms)
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if ARGV[4] == '1' then
  if free > 0 then
    redis.call('ZREM', KEYS[2], ARGV[1])
  else
    redis.call('ZADD', KEYS[2], now + waiter_ms, ARGV[1])
    redis.call('PEXPIRE', KEYS[2], keep)
    return 0
  end
else
  local ahead = redis.call('ZCARD', KEYS[2])
  if free - tonumber(ARGV[3]) - ahead <= 0 then
    return 0
  end
end
redis.call('ZADD', KEYS[1], now + lease_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
return 1
"""
)

# KEYS: leases. ARGV: id, lease ms.
_RENEW = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""
)

# KEYS: leases, waiting, channel. ARGV: id, budget key.
_RELEASE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed > 0 then
  redis.call('PUBLISH', KEYS[3], ARGV[2])
end
return removed
"""

# KEYS: leases.
_HELD = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


class LeaseSet:
    """The budget's scripts on one Redis, namespaced by `queue_name`. Raises `RedisError`
    when Redis does not answer."""

    def __init__(self, redis: Redis, *, queue_name: str) -> None:
        self.redis = redis
        self.prefix = f"{queue_name}:directo-budget"
        self.channel = f"{self.prefix}:released"
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._held = redis.register_script(_HELD)

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}:{key}:leases", f"{self.prefix}:{key}:waiting"]

    async def try_acquire(
        self,
        key: str,
        lease_id: str,
        *,
        cap: int,
        reserved: int,
        interactive: bool,
        lease_ms: int,
        waiter_ms: int,
    ) -> bool:
        """Take a slot now if the rules allow it; an interactive caller that gets none is
        registered as waiting (for `waiter_ms`), which holds bulk callers back."""
        args: list[Any] = [lease_id, cap, reserved, int(interactive), lease_ms, waiter_ms]
        return bool(await self._acquire(keys=self._keys(key), args=args))

    async def renew(self, key: str, lease_id: str, *, lease_ms: int) -> bool:
        """Push the lease's expiry `lease_ms` ahead; False if it had already expired."""
        keys = self._keys(key)[:1]
        return bool(await self._renew(keys=keys, args=[lease_id, lease_ms]))

    async def release(self, key: str, lease_id: str) -> None:
        """Give the slot back (or stop waiting) and wake the waiters of `key` everywhere."""
        await self._release(keys=[*self._keys(key), self.channel], args=[lease_id, key])

    async def held(self, key: str) -> int:
        """Unexpired leases of `key` right now."""
        return int(await self._held(keys=self._keys(key)[:1]))
