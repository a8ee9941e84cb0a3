"""The nightly job: sync, and it calls load_report too."""

from reports import load_report


def run():
    return load_report("daily")["total"]
