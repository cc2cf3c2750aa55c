"""Triggers: the deferrable read-back, run in the triggerer's event loop."""
