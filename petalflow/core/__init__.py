"""The shared core: domain errors, the model contract and artifact I/O (imports no other layer)."""
