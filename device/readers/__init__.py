"""The kiosk's inputs: NFC card reader (nfcpy) and camera QR scanner (OpenCV + zxing-cpp).

``base`` holds the ports the kiosk app depends on (``CardReader``, ``QrScanner``,
``FrameSource``, ``CardRead``, ``QrRead``, ``ReaderHealth``); ``nfc_reader``, ``qr`` and
``frames`` are the real adapters; ``debounce`` turns reads over time into taps and scans.
Nothing here opens a device at import time.
"""
