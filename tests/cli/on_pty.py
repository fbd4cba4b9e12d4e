"""Runs a command with its standard error on a new pseudo-terminal (stdout to a file) and prints
what the terminal received, then the elapsed seconds on the last line. Used by progress_cli.sh.
    on_pty.py STDOUT_FILE COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import time

master, slave = os.openpty()
start = time.monotonic()
with open(sys.argv[1], "wb") as out:
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
os.close(slave)
received = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the last holder of the terminal's other side exited
        break
    if not chunk:
        break
    received += chunk
proc.wait()
sys.stdout.write(received.decode("utf-8", "replace").replace("\r", "<CR>"))
print(f"\n{time.monotonic() - start:.2f}")
sys.exit(proc.returncode)
