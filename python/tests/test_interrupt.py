"""Ctrl-C during a fit: a real SIGINT to a Python process fitting a problem that does not
converge soon stops it with KeyboardInterrupt (synchronised on the fit's first progress line,
not on a sleep)."""

import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import strads
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3000))
    y = rng.normal(size=3000)
    try:
        # A gap of 1e-300 x F is never reached: the fit runs until interrupted.
        strads.Lasso(lambda_ratio=0.001, tol=1e-300, max_iter=10**9, threads=2, verbose=True).fit(X, y)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


def test_sigint_stops_a_fit_with_keyboard_interrupt():
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first_progress = process.stderr.readline()  # the fit has started solving
        assert first_progress.startswith("[strads squared]"), first_progress
        process.send_signal(signal.SIGINT)
        # The timeout only guards against a hang; a stop takes one gap evaluation.
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert stdout.strip() == "interrupted"
    assert process.returncode == 0
