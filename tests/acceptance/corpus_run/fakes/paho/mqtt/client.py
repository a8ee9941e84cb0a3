"""A fake paho.mqtt.client: an in-process broker and clients whose network thread delivers messages.

Like paho 1.x, `loop_start()` starts a thread that connects (after a short delay, as a real TCP
handshake would take), calls `on_connect(client, userdata, flags, rc)` and then calls `on_message`
for every message published on a topic the client subscribed to, in publish order.
"""

import queue
import threading
import time

MQTT_ERR_SUCCESS = 0
MQTT_ERR_NO_CONN = 4
CONNECT_DELAY = 0.03


def topic_matches_sub(sub: str, topic: str) -> bool:
    sub_parts = sub.split("/")
    topic_parts = topic.split("/")
    for i, part in enumerate(sub_parts):
        if part == "#":
            return True
        if i >= len(topic_parts):
            return False
        if part != "+" and part != topic_parts[i]:
            return False
    return len(sub_parts) == len(topic_parts)


class MQTTMessage:
    def __init__(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos


class MQTTMessageInfo:
    def __init__(self, rc: int, mid: int) -> None:
        self.rc = rc
        self.mid = mid

    def wait_for_publish(self, timeout=None) -> None:
        return None


class Broker:
    """Every client of the process talks to this one broker. `published` keeps every message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: list["Client"] = []
        self.published: list[tuple[str, bytes]] = []
        self.addresses: list[tuple[str, int]] = []

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        with self.lock:
            self.published.append((topic, payload))
            targets = [c for c in self.clients if c._connected and any(topic_matches_sub(s, topic) for s in c._subs)]
        for client in targets:
            client._inbox.put(MQTTMessage(topic, payload, qos))


BROKER = Broker()


class Client:
    def __init__(self, client_id: str = "", clean_session: bool = True, userdata=None, **_ignored) -> None:
        self._client_id = client_id
        self._userdata = userdata
        self.on_connect = None
        self.on_disconnect = None
        self.on_message = None
        self._subs: set[str] = set()
        self._inbox: queue.Queue = queue.Queue()
        self._connected = False
        self._address = None
        self._thread = None
        self._stop = threading.Event()
        self._mid = 0

    def connect_async(self, host: str, port: int = 1883, keepalive: int = 60, **_ignored) -> None:
        self._address = (host, port)

    def connect(self, host: str, port: int = 1883, keepalive: int = 60, **_ignored) -> int:
        self._address = (host, port)
        self._do_connect()
        return MQTT_ERR_SUCCESS

    def _do_connect(self) -> None:
        with BROKER.lock:
            BROKER.clients.append(self)
            BROKER.addresses.append(self._address)
            self._connected = True
        if self.on_connect is not None:
            self.on_connect(self, self._userdata, {"session present": 0}, 0)

    def loop_start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._network_loop, name=f"paho-{self._client_id}", daemon=True)
        self._thread.start()

    def drop(self) -> None:
        """Test hook: the broker closes the connection; the network thread reconnects, as paho's does."""
        with BROKER.lock:
            if self in BROKER.clients:
                BROKER.clients.remove(self)
            self._connected = False
        if self.on_disconnect is not None:
            self.on_disconnect(self, self._userdata, 1)

    def _network_loop(self) -> None:
        while not self._stop.is_set():
            if not self._connected:
                time.sleep(CONNECT_DELAY)
                self._do_connect()
            try:
                msg = self._inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            if self.on_message is not None:
                self.on_message(self, self._userdata, msg)

    def loop_stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)

    def disconnect(self) -> None:
        with BROKER.lock:
            if self in BROKER.clients:
                BROKER.clients.remove(self)
            self._connected = False
        if self.on_disconnect is not None:
            self.on_disconnect(self, self._userdata, 0)

    def subscribe(self, topic: str, qos: int = 0):
        self._subs.add(topic)
        self._mid += 1
        return (MQTT_ERR_SUCCESS, self._mid)

    def publish(self, topic: str, payload=None, qos: int = 0, retain: bool = False) -> MQTTMessageInfo:
        self._mid += 1
        if not self._connected:
            return MQTTMessageInfo(MQTT_ERR_NO_CONN, self._mid)
        if payload is None:
            payload = b""
        elif isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, bytes):
            payload = str(payload).encode()
        BROKER.publish(topic, payload, qos)
        return MQTTMessageInfo(MQTT_ERR_SUCCESS, self._mid)
