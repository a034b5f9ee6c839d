"""Training: the `train` command, stage recipes, callbacks and the run directory."""
