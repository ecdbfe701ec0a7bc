"""The product's features beyond the pipeline: X, receipts, the ledger, OCR."""
