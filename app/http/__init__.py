"""HTTP plumbing shared by every view: error handlers, API keys, body guards, rate limits, JSON."""
