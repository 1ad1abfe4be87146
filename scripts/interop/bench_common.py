"""What the benchmark scripts share: the machine line every recorded run starts with, and a port check."""

import os
import platform
import re
import socket
import time


def machine_line():
    """Cores, CPU model, platform and the UTC time: what BENCHMARKS.md records beside each run."""
    model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    return (f"machine: {os.cpu_count()} cores, {model.group(1) if model else platform.machine()}, "
            f"{platform.platform()}; load average {os.getloadavg()[0]:.2f}; "
            f"{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}")


def listening(port):
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
