"""What every estimator's fit shares: thread counts, progress printing and the trace."""

import os
import sys


def resolve_threads(threads):
    """``None`` means every core of this machine."""
    from ._validation import check_positive_int

    if threads is None:
        return os.cpu_count() or 1
    return check_positive_int(threads, "threads")


def progress_printer(verbose, what):
    """The callback the bindings call with each trace record: prints it on stderr when
    ``verbose``, else does nothing (the record still lands in ``trace_``)."""
    if not verbose:
        return None

    def show(record):
        fields = ", ".join(f"{key} {value:.6g}" if isinstance(value, float) else f"{key} {value}"
                           for key, value in record.items())
        print(f"[strads {what}] {fields}", file=sys.stderr, flush=True)

    return show
