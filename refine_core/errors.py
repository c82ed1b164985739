"""The one error type for bad input: a file and a one-line problem."""


class BadInputError(Exception):
    """Input the user can fix: names the file (or argument) and the problem.

    ``str(err)`` is the one-line message the CLI prints and the add-on reports.
    """

    def __init__(self, source, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}" if self.source else self.problem)


# Exit codes of every command (CLI, batch, worker), in one place.
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: "internal error: ..."
EXIT_BAD_INPUT = 2  # bad input or arguments: one line naming the file and the problem
EXIT_SOME_FAILED = 3  # a batch in which some files failed (each reported with its reason)


class InputWarning(UserWarning):
    """Something about the user's file that did not stop the work but changed
    what was written, e.g. an oversize extra left out (``warnings.warn``; the
    CLI prints it as ``warning: ...``)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what ``timeout``, systemd and CI send), raised as the CLI's
    Ctrl-C is, so that every ``except KeyboardInterrupt`` and ``finally``
    cleans up the same way (refine_core.cli.sigterm_raises)."""
