"""Host side: load the UCI data, cut windows through the device contract, train and evaluate the models."""
