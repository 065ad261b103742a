"""Built-in backends, installed as refbackprop.backends (one module each)."""
