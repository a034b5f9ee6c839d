"""`python -m workflows.train.torchrun ARGS`: torchrun (``torch.distributed.run``) that ends quietly when stopped.

On SIGTERM (the UI's Abort) or SIGINT torchrun passes the signal on to every
rank, which saves a checkpoint and records ``aborted`` in status.json; torch's
own entry point would then end with the signal's traceback at the bottom of
running_log.txt and exit code 1. This one says what happened in one line and
exits like the ranks (128 + the signal: 143 for SIGTERM).
"""

import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.run import main

if __name__ == "__main__":
    try:
        main()
    except SignalException as stop:
        print(f"torchrun stopped by {stop.sigval.name}: every rank was told to save a checkpoint and stop.", file=sys.stderr)
        sys.exit(128 + stop.sigval)
