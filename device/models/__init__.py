"""What a model is (kinds, manifest entries), how it is verified, loaded and reloaded."""
