"""Training: configuration, data, pipeline, evaluation, MLflow tracking and the run itself."""
