"""The ops dashboard and the store-owner report pages, served by the coordinator.

Pages are rendered on the server from the service layer (:mod:`coordinator.services`);
their live parts read the fleet and report JSON routes. ``coordinator.app`` mounts them.
"""
