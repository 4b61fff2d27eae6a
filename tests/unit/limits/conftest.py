"""The kv fixtures of tests/unit/kv: every limits test runs on memory and on Redis."""

from tests.unit.kv.conftest import kv, redis_kv_factory

__all__ = ["kv", "redis_kv_factory"]
