"""Run a recording worker: `python worker.py` (the same as `recorder worker`).

The worker itself lives in `recorder.worker`; this script is its entry point at the top of the project, as the design
card has it, and nothing imports it.
"""

from recorder.worker import run

if __name__ == "__main__":
    run()
