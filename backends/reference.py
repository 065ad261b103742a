"""The reference core, wrapped as a backend: native arrays are Python lists."""
