"""Test double for paho-mqtt (corpus_run.py): just enough of paho.mqtt.client for app.workers.bus."""
