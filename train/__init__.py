"""Host side: load the UCI data, cut windows through the device contract, train and evaluate the models."""

import os

# Quiet TensorFlow before any submodule imports it: TF_CPP_MIN_LOG_LEVEL silences the C++ logging, and turning off
# the oneDNN custom ops silences their start-up notice and removes one source of run-to-run float differences.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
