"""Live scheduling: the APScheduler worker."""
