import time


def settle():
    time.sleep(0.25)
