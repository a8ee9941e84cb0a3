# Exercises: database and cache clients resolved through factories and attributes: sqlite3
# (thread-bound: reported, fix only unsafe), redis via `redis.Redis()` and `redis.from_url`,
# a redis pipeline (commands only buffer until `execute()`), pymongo through
# `get_database`/`get_collection` and through attribute access (`client.app.users`), psycopg2
# connection and cursor, and the async clients that must not be reported.
import sqlite3

import psycopg2
import redis
import redis.asyncio as aioredis
from pymongo import MongoClient

cache = redis.Redis(host="localhost", port=6379)
mongo = MongoClient("mongodb://localhost:27017")  # expect: none


async def get_user_sqlite(path: str, user_id: int):
    conn = sqlite3.connect(path)  # expect: to-thread
    cur = conn.cursor()  # expect: none
    cur.execute("SELECT name FROM users WHERE id = ?", (user_id,))  # expect: to-thread
    row = cur.fetchone()  # expect: to-thread
    conn.close()  # expect: to-thread
    return row


async def cached_score(key: str) -> int:
    value = cache.get(key)  # expect: to-thread
    if value is None:
        cache.set(key, 0, ex=60)  # expect: to-thread
        return 0
    return int(value)


async def bump_counters(url: str, keys: list[str]) -> list:
    r = redis.from_url(url)
    pipe = r.pipeline()
    for key in keys:
        pipe.incr(key)  # expect: none
    return pipe.execute()  # expect: to-thread


async def native_cache(key: str):
    r = aioredis.Redis()
    return await r.get(key)  # expect: none


async def find_user(email: str):
    db = mongo.get_database("app")
    users = db.get_collection("users")
    return users.find_one({"email": email})  # expect: to-thread


async def add_event(event: dict) -> None:
    mongo.app.events.insert_one(event)  # expect: to-thread


async def order_total(dsn: str, order_id: int) -> float:
    conn = psycopg2.connect(dsn)  # expect: to-thread
    with conn.cursor() as cur:
        cur.execute("SELECT total FROM orders WHERE id = %s", (order_id,))  # expect: to-thread
        (total,) = cur.fetchone()
    conn.commit()  # expect: to-thread
    return total


class Store:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)

    async def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]  # expect: to-thread
