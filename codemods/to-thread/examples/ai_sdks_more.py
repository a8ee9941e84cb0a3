# Exercises: the synchronous APIs of more AI and platform SDKs, beside their async twins that
# are not findings: google-genai (`client.models`, not `client.aio.models`), litellm
# (`completion`, not `acompletion`), LangChain chat models (`invoke`, not `ainvoke`), Voyage AI,
# Google's ID-token check (fetches certificates), importlib.metadata (scans sys.path), a child
# process's pipe, and closing a sync httpx client.
import subprocess
from importlib.metadata import version

import httpx
import litellm
import voyageai
from google import genai
from google.oauth2 import id_token
from langchain_openai import ChatOpenAI


async def answer(prompt: str) -> str:
    client = genai.Client()
    reply = client.models.generate_content(model="gemini", contents=prompt)  # expect: to-thread
    await client.aio.models.generate_content(model="gemini", contents=prompt)  # expect: none
    return reply.text


async def route(prompt: str) -> object:
    await litellm.acompletion(model="gpt", messages=[])  # expect: none
    return litellm.completion(model="gpt", messages=[{"role": "user", "content": prompt}])  # expect: to-thread


async def chain(prompt: str) -> object:
    llm = ChatOpenAI(model="gpt")
    await llm.ainvoke(prompt)  # expect: none
    return llm.invoke(prompt)  # expect: to-thread


async def embed(texts: list[str]) -> object:
    return voyageai.Client().embed(texts)  # expect: to-thread


async def login(token: str) -> dict:
    return id_token.verify_oauth2_token(token, None)  # expect: to-thread


async def about() -> str:
    return version("unblock")  # expect: to-thread


async def first_line(cmd: list[str]) -> bytes:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)  # expect: subprocess
    return proc.stdout.readline()  # expect: to-thread


async def shutdown(client: httpx.Client) -> None:
    client.close()  # expect: to-thread
