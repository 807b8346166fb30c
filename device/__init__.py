"""The device side: the windowing contract, the manifest, the predictors and the MQTT agent (numpy only)."""
