"""Reads reports from disk, slowly (the volume is network-mounted)."""

import json
import os
import time

from .slow import settle

HERE = os.path.dirname(os.path.abspath(__file__))


def load_report(name):
    with open(os.path.join(HERE, f"{name}.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    settle()
    return data


def summarise(name):
    report = load_report(name)
    return f"{name}: {report['total']} items, status {report['status']}"


def checksum(name):
    time.sleep(0.25)
    return sum(ord(c) for c in name) % 97
