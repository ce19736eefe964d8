"""Runs a command under the system call filter of a systemd unit, as systemd would apply it.

usage: python3 unit_seccomp.py UNIT -- COMMAND...

SystemCallFilter= lines are applied in order (a list, then ~lists taken away; groups expanded by
systemd-analyze syscall-filter); a call outside the result fails with SystemCallErrorNumber=
(EPERM when the unit names none; systemd would kill the process instead). Needs the libseccomp
bindings (Debian: python3-seccomp) and runs with no system manager, so tests can check that the
daemon works under the shipped unit's filter.
"""
import errno
import os
import subprocess
import sys

import seccomp


def expand(names):
    out = set()
    for name in names:
        if name.startswith('@'):
            text = subprocess.run(['systemd-analyze', 'syscall-filter', name], capture_output=True, text=True,
                                  check=True).stdout
            members = [l.strip() for l in text.splitlines()[1:]]
            out |= expand(m for m in members if m and not m.startswith('#'))
        else:
            out.add(name)
    return out


def main():
    unit, command = sys.argv[1], sys.argv[sys.argv.index('--') + 1:]
    allowed, error = None, errno.EPERM
    for line in open(unit):
        key, _, value = line.strip().partition('=')
        if key == 'SystemCallErrorNumber':
            error = getattr(errno, value)
        elif key == 'SystemCallFilter':
            names = expand(value.lstrip('~').split())
            if value.startswith('~'):
                allowed = (allowed if allowed is not None else set()) - names
            else:
                allowed = names if allowed is None else allowed | names
    if not allowed:
        sys.exit(unit + ': no SystemCallFilter= allow list')
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    count = 0
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
            count += 1
        except (RuntimeError, ValueError, OSError):
            pass  # no such call on this architecture
    print(f'unit_seccomp: {count} system calls allowed', file=sys.stderr)
    f.load()
    os.execvp(command[0], command)


main()
