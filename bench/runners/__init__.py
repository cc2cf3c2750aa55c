"""One module per measured client; each runs in a fresh process so its peak RSS is its own."""
