"""The test suite: one folder per package of the product, each module's tests mirroring its path
(tests/pipeline/test_worker.py for bot/pipeline/worker.py); whole-product scenarios at the top."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout
