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


def interrupted_after_first_progress(script, prefix):
    """Runs `script`, sends SIGINT once it printed its first progress line starting with
    `prefix`, and returns what it printed on stdout."""
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first_progress = process.stderr.readline()  # the fit has started solving
        assert first_progress.startswith(prefix), first_progress
        process.send_signal(signal.SIGINT)
        # The timeout only guards against a hang; a stop takes one iteration.
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0
    return stdout.strip()


def test_sigint_stops_a_fit_with_keyboard_interrupt():
    assert interrupted_after_first_progress(SCRIPT, "[strads squared]") == "interrupted"


MLR_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import strads
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 300))
    y = rng.integers(0, 10, size=20000)
    try:
        # A gradient of norm 0 is never reached: the fit runs until interrupted.
        strads.MultinomialLogisticRegression(tol=0.0, max_iter=10**9, threads=2, verbose=True).fit(X, y)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


def test_sigint_stops_a_multinomial_fit_with_keyboard_interrupt():
    assert interrupted_after_first_progress(MLR_SCRIPT, "[strads mlr]") == "interrupted"


ONE_WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import strads
    rng = np.random.default_rng(0)
    # 20,000 entries: below the small-problem rule, so one worker solves it on this thread,
    # with no thread of its own (no progress is shown).
    X = rng.normal(size=(100, 200))
    y = rng.normal(size=100)
    try:
        print("fitting", file=sys.stderr, flush=True)
        strads.Lasso(lambda_ratio=0.001, tol=1e-300, max_iter=10**9, threads=2).fit(X, y)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


def test_sigint_stops_a_one_worker_fit_on_the_calling_thread():
    """The fit gives no progress line to synchronise on: SIGINT is sent a second after the fit
    is about to start (a fit that never converges). A signal that came before the fit would be
    raised too; one during it must stop the solve, else this hangs until the timeout."""
    process = subprocess.Popen(
        [sys.executable, "-c", ONE_WORKER_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr.readline().strip() == "fitting"
        try:
            process.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass  # still fitting, as it should be
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0
    assert stdout.strip() == "interrupted"
