"""Long-running operations: durable jobs that an operation runner executes and resumes."""
