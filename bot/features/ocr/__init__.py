"""Reading a receipt's total: OCR (rapidocr-onnxruntime, offline) or a PDF's text layer, then
the total chosen from the lines and their positions (bot/features/ocr/total.py)."""
