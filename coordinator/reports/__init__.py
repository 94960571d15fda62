"""Store-owner reports: portable SQL over the central ledger, pure analytics, SVG and CSV."""
