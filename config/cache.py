"""The shared cache (``CACHE_URL=redis://...``) as MaskQC uses it: a Redis that is down or
slow costs what the cache holds, never a request.

The cache holds only what can be lost: the login page's failure counts, thumbnails and the
viewer's and feedback pages' computed data. :class:`FailSoftRedisCache` is Django's
RedisCache whose every operation, when Redis cannot be reached, logs one warning and
answers as an empty cache would: a miss, nothing stored. (While it is down, the login
limit counts nothing: sign-in keeps working rather than failing for everyone.)
"""

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

__all__ = ["FailSoftRedisCache"]

logger = logging.getLogger("maskqc.cache")


def _soft(method: Callable[..., Any], missing: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: RedisCacheClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except RedisError as error:
            logger.warning("cache unavailable (%s: %s)", type(error).__name__, error)
            return missing(*args, **kwargs)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class _FailSoftClient(RedisCacheClient):
    """Each operation's answer when Redis is out of reach: what an empty cache answers."""

    add = _soft(RedisCacheClient.add, lambda key, value, timeout: False)
    get = _soft(RedisCacheClient.get, lambda key, default: default)
    set = _soft(RedisCacheClient.set, lambda key, value, timeout: None)
    touch = _soft(RedisCacheClient.touch, lambda key, timeout: False)
    delete = _soft(RedisCacheClient.delete, lambda key: False)
    get_many = _soft(RedisCacheClient.get_many, lambda keys: {})
    has_key = _soft(RedisCacheClient.has_key, lambda key: False)
    incr = _soft(RedisCacheClient.incr, lambda key, delta: delta)
    set_many = _soft(RedisCacheClient.set_many, lambda data, timeout: [])
    delete_many = _soft(RedisCacheClient.delete_many, lambda keys: None)
    clear = _soft(RedisCacheClient.clear, lambda: False)


class FailSoftRedisCache(RedisCache):
    """Django's RedisCache, answering as an empty cache while Redis is out of reach."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _FailSoftClient
