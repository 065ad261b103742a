"""A plugin module that ends its process while being imported."""

import os

print("about to leave")
os._exit(0)
