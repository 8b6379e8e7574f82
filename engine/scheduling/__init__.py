"""Live scheduling: the APScheduler worker and the crash-test failpoints."""
