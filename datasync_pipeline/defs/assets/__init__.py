"""Asset factories: one chain of assets per configured sync."""
