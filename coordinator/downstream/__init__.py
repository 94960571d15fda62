"""What goes down to kiosks: rule bundles, member deltas and snapshots, and the push loop."""
