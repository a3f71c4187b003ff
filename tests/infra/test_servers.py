"""The real Redis and PostgreSQL servers the scale-out tests rely on start and answer."""

import asyncpg
import redis.asyncio as redis


async def test_redis_answers(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    await client.set("bifrost:probe", "1")
    assert await client.get("bifrost:probe") == b"1"
    await client.aclose()


async def test_postgres_answers(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    assert await connection.fetchval("select 40 + 2") == 42
    await connection.close()
