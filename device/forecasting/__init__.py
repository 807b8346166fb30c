"""Per-meter streams, windows and the models run over them."""
