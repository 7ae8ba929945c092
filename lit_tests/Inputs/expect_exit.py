"""Runs a command and succeeds only if it exits with the given code.

Usage: expect_exit.py CODE COMMAND [ARGS...]

`not` only tells zero from non-zero; tsopt documents distinct exit codes
(2 usage, 3 bad input, ...), and the tests pin them. The command's stdout
and stderr pass through untouched, so RUN lines can still pipe to FileCheck.
"""
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 3:
        sys.stderr.write("usage: expect_exit.py CODE COMMAND [ARGS...]\n")
        return 2
    expected = int(sys.argv[1])
    actual = subprocess.call(sys.argv[2:])
    if actual != expected:
        sys.stderr.write("expect_exit.py: expected exit code %d, got %d\n" % (expected, actual))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
