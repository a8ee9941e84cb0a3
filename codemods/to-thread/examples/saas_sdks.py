# Exercises: SaaS SDKs called from coroutines: Stripe's classic module-level API, Resend,
# SendGrid, Twilio (its message list through the client), slack_sdk's WebClient, and password
# hashing with bcrypt, passlib and argon2. Stripe's local signature check, the `*_async`
# methods, the async Slack client and calls handed to `asyncio.to_thread` are not findings.
import asyncio

import bcrypt
import resend
import stripe
from argon2 import PasswordHasher
from passlib.context import CryptContext
from sendgrid import SendGridAPIClient
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from twilio.rest import Client

slack = WebClient(token="xoxb-test")
aslack = AsyncWebClient(token="xoxb-test")
sms = Client("AC123", "token")
mailer = SendGridAPIClient("SG.test")
passwords = CryptContext(schemes=["bcrypt"])
hasher = PasswordHasher()


async def on_webhook(payload: bytes, signature: str, secret: str) -> str:
    event = stripe.Webhook.construct_event(payload, signature, secret)  # expect: none
    customer = stripe.Customer.retrieve(event["data"]["object"]["customer"])  # expect: to-thread
    return customer["email"]


async def cancel_all(customer_id: str) -> None:
    for subscription in stripe.Subscription.list(customer=customer_id):  # expect: to-thread
        stripe.Subscription.modify(subscription.id, cancel_at_period_end=True)  # expect: to-thread


async def checkout(price: str) -> str:
    session = stripe.checkout.Session.create(  # expect: to-thread
        mode="subscription", line_items=[{"price": price, "quantity": 1}]
    )
    return session.url


async def checkout_native(customer_id: str):
    return await stripe.Customer.retrieve_async(customer_id)  # expect: none


async def welcome(address: str) -> None:
    resend.Emails.send({"to": address, "subject": "Welcome", "html": "<p>hi</p>"})  # expect: to-thread
    mailer.send({"to": address})  # expect: to-thread


async def notify(number: str, channel: str) -> None:
    sms.messages.create(to=number, from_="+15550100", body="done")  # expect: to-thread
    slack.chat_postMessage(channel=channel, text="done")  # expect: to-thread
    await aslack.chat_postMessage(channel=channel, text="done")  # expect: none


async def login(password: bytes, stored: bytes) -> bool:
    return bcrypt.checkpw(password, stored)  # expect: to-thread


async def login_off_the_loop(password: bytes, stored: bytes) -> bool:
    return await asyncio.to_thread(bcrypt.checkpw, password, stored)  # expect: none


async def register(password: str) -> tuple[str, str]:
    salted = bcrypt.gensalt()  # expect: none
    first = passwords.hash(password)  # expect: to-thread
    second = hasher.hash(password)  # expect: to-thread
    return first + salted.decode(), second
