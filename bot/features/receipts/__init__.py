"""Receipts: stored photos and PDFs, the gallery, and their clean-up jobs."""
