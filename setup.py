"""The one part of the package that is compiled: wattcast's own int8 LSTM runtime as a CPython extension.

Everything else is declared in pyproject.toml. The extension is built from the same C sources as the firmware
(``firmware/runtime/``, ``firmware/runtime/wc_sigmoid_table.c``) and is optional: without a working C compiler the
install still succeeds and the agent runs the int8 LSTMs on LiteRT instead (``--runtime auto`` says so).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "device.models._wattcast_lstm",
            sources=[
                "device/models/_wattcast_lstm.c",
                "firmware/runtime/wc_model.c",
                "firmware/runtime/wc_sigmoid_table.c",
            ],
            include_dirs=["firmware/runtime"],
            depends=[
                "firmware/runtime/wc_model.h",
                "firmware/runtime/wc_fixed.h",
                "firmware/runtime/wc_activations.h",
                "firmware/runtime/wc_host_simd.h",
            ],
            # Room for every shipped int8 LSTM (augmented_lstm_int8: 3 layers, 50 units); the loops run to each
            # model's own sizes, so the limits only size the stack arrays.
            define_macros=[("WC_MAX_STATE", "64"), ("WC_MAX_LAYERS", "4")],
            optional=True,
        )
    ]
)
