"""What kiosk and coordinator must agree on: wire protocol, topic tree and ledger rules.

Nothing in this package does IO: no sqlite3, paho, nfc or cv2 import. Every function takes
the time, the state and the input it needs as arguments, so it can be tested exhaustively.
"""

SOFTWARE_VERSION = "0.1.0"
