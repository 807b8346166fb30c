# The C extension built from device/models/_wattcast_lstm.c (see setup.py).
from typing_extensions import Buffer

BLOB_VERSION: int
MAX_STATE: int
MAX_LAYERS: int

class Model:
    def __init__(self, blob: Buffer) -> None: ...
    @property
    def window_bytes(self) -> int: ...
    def predict(self, windows: Buffer, /) -> bytes: ...
