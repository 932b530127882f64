#!/usr/bin/env python3
"""A stand-in for qemu-system-x86_64 in the qemu package's fast tests.

It understands just enough of the command line: -accel and -qmp unix:PATH.
With -accel kvm it fails like QEMU without KVM, or, when a file named like
the first disk plus ".kvm-internal-error" exists, starts and then reports
the "internal-error" run state as KVM does on an emulation failure. Otherwise it prints a console
line, serves QMP on PATH (greeting, qmp_capabilities, query-status,
system_powerdown) and exits 0 on system_powerdown, unless a file named like
the first disk plus ".ignore-acpi" exists (a guest that ignores ACPI).
"""
import json, os, socket, sys, time

args = sys.argv[1:]
accel = args[args.index("-accel") + 1]
qmp = args[args.index("-qmp") + 1]
path = qmp[len("unix:"):].replace(",,", "\0").split(",")[0].replace("\0", ",")
drive = next(a for a in args if a.startswith("if=none,id=d0,"))
disk = drive[len("if=none,id=d0,file="):].replace(",,", "\0").split(",")[0].replace("\0", ",")
status = "running"
if accel == "kvm" and os.path.exists(disk + ".kvm-internal-error"):
    sys.stderr.write("KVM internal error. Suberror: 1\nemulation failure\n")
    sys.stderr.flush()
    status = "internal-error"
elif accel == "kvm":
    sys.stderr.write("fake-qemu: Could not access KVM kernel module: No such file or directory\n")
    sys.exit(1)
print("fake console: booted", flush=True)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
ignore = os.path.exists(disk + ".ignore-acpi")
while True:
    c, _ = s.accept()
    f = c.makefile("rw")
    f.write(json.dumps({"QMP": {"version": {}, "capabilities": []}}) + "\n")
    f.flush()
    for line in f:
        cmd = json.loads(line).get("execute")
        if cmd == "query-status":
            f.write(json.dumps({"return": {"status": status, "running": status == "running"}}) + "\n")
        else:
            f.write(json.dumps({"return": {}}) + "\n")
        f.flush()
        if cmd == "system_powerdown" and not ignore:
            print("fake console: power button", flush=True)
            time.sleep(0.2)
            sys.exit(0)
    c.close()
