# Exercises: AI back ends called from coroutines. Remote APIs resolved through attribute chains
# (`client.chat.completions.create`, `self.client.messages.create`, AzureOpenAI, the
# module-level `openai.chat.completions.create`), and CPU-bound local models
# (SentenceTransformer.encode, Whisper and faster-whisper transcribe). The async clients and
# references handed to `asyncio.to_thread` are not findings.
import asyncio

import anthropic
import openai
import whisper
from faster_whisper import WhisperModel
from openai import AsyncOpenAI, AzureOpenAI, OpenAI
from sentence_transformers import SentenceTransformer

client = OpenAI()
aclient = AsyncOpenAI()
azure = AzureOpenAI(api_version="2024-06-01")
embedder = SentenceTransformer("all-MiniLM-L6-v2")
speech = whisper.load_model("base")
fast_speech = WhisperModel("small", device="cpu")


async def answer(question: str) -> str:
    resp = client.chat.completions.create(  # expect: to-thread
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
    )
    return resp.choices[0].message.content


async def answer_azure(question: str) -> str:
    resp = azure.chat.completions.create(model="gpt-4o", messages=[])  # expect: to-thread
    return resp.choices[0].message.content


async def answer_module_client(question: str) -> str:
    resp = openai.chat.completions.create(model="gpt-4o-mini", messages=[])  # expect: to-thread
    return resp.choices[0].message.content


async def embed_remote(texts: list[str]) -> list:
    return client.embeddings.create(model="text-embedding-3-small", input=texts).data  # expect: to-thread


async def answer_native(question: str) -> str:
    resp = await aclient.chat.completions.create(model="gpt-4o-mini", messages=[])  # expect: none
    return resp.choices[0].message.content


class Summariser:
    def __init__(self) -> None:
        self.client = anthropic.Anthropic()

    async def summarise(self, text: str) -> str:
        msg = self.client.messages.create(  # expect: to-thread
            model="claude-sonnet-4-5",
            max_tokens=512,
            messages=[{"role": "user", "content": text}],
        )
        return msg.content[0].text


async def embed_local(texts: list[str]):
    return embedder.encode(texts, batch_size=32)  # expect: to-thread


async def embed_offloaded(texts: list[str]):
    return await asyncio.to_thread(embedder.encode, texts)  # expect: none


async def transcribe(path: str) -> str:
    return speech.transcribe(path)["text"]  # expect: to-thread


async def transcribe_fast(path: str) -> str:
    segments, _info = fast_speech.transcribe(path, beam_size=5)  # expect: to-thread
    return " ".join(s.text for s in segments)


async def load_on_demand(name: str):
    return whisper.load_model(name)  # expect: to-thread
