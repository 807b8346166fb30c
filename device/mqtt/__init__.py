"""The one MQTT layer of the agent, the simulator and the benchmarks, and Home Assistant discovery."""
