# Exercises: other blocking network clients: raw sockets, smtplib used as a context manager,
# boto3 clients (generated at run time; `generate_presigned_url` signs locally and is not a
# finding), Google Cloud Storage and Firestore reference chains (building references is not a
# request), and paho-mqtt, whose `publish` only queues the message.
import smtplib
import socket
from email.message import EmailMessage

import boto3
import paho.mqtt.client as mqtt
from google.cloud import firestore, storage

s3 = boto3.client("s3")
gcs = storage.Client()
db = firestore.Client()
mqttc = mqtt.Client()


async def send_line(host: str, port: int, line: bytes) -> bytes:
    sock = socket.create_connection((host, port), timeout=5)  # expect: to-thread
    sock.sendall(line)  # expect: to-thread
    return sock.recv(4096)  # expect: to-thread


async def send_mail(msg: EmailMessage) -> None:
    with smtplib.SMTP("smtp.example.com", 587) as smtp:  # expect: to-thread
        smtp.starttls()  # expect: to-thread
        smtp.send_message(msg)  # expect: to-thread


async def store_report(bucket: str, key: str, body: bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body)  # expect: to-thread
    return s3.generate_presigned_url(  # expect: none
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
    )


async def upload_avatar(user_id: str, path: str) -> None:
    blob = gcs.bucket("avatars").blob(f"{user_id}.png")  # expect: none
    blob.upload_from_filename(path)  # expect: to-thread


async def load_profile(user_id: str) -> dict:
    ref = db.collection("users").document(user_id)  # expect: none
    snap = ref.get()  # expect: to-thread
    return snap.to_dict() or {}


async def recent_orders(user_id: str) -> list:
    query = db.collection("orders").where("user", "==", user_id).limit(20)  # expect: none
    return [d.to_dict() for d in query.stream()]  # expect: to-thread


async def announce(topic: str, payload: bytes) -> None:
    mqttc.publish(topic, payload, qos=1)  # expect: none
