import os
import sys

# tests/ holds helper modules (wrong_backends) imported by path in some tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
