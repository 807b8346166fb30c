"""Host side: turn trained models into int8/float TFLite, C arrays and the manifest the device verifies."""
