"""Replay the UCI data over MQTT as a fleet of meters, and run the whole loop end to end."""
