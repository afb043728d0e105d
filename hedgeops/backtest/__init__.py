"""History through the engine: the same decisions the operator takes, on replayed bars."""
