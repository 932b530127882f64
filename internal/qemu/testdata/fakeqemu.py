#!/usr/bin/env python3
"""A stand-in for qemu-system-x86_64 in the qemu package's fast tests.

It understands just enough of the command line: -accel and -qmp unix:PATH.
Files named like the first disk plus a suffix select its behaviour:

  -accel kvm       fails like QEMU without KVM; with ".kvm-internal-error"
                   it starts and then reports the "internal-error" run state
                   as KVM does on an emulation failure; with ".kvm-abort" it
                   aborts with an assertion and a register dump, as QEMU does
                   where /dev/kvm exists but nested KVM is broken
  ".ignore-acpi"   the guest ignores the ACPI power button
  ".guest-fatal"   the guest init reports a fatal error on the console a
                   moment after the start and powers off (exit 0)

With -kernel (direct kernel boot) it prints the sizes of the -kernel and
-initrd files, the -append command line and whether a pflash drive (UEFI
firmware) is attached.

Otherwise it prints a console line, serves QMP on PATH (greeting,
qmp_capabilities, query-status, system_powerdown) and exits 0 on
system_powerdown.
"""
import json, os, socket, sys, threading, time

args = sys.argv[1:]
accel = args[args.index("-accel") + 1]
qmp = args[args.index("-qmp") + 1]
path = qmp[len("unix:"):].replace(",,", "\0").split(",")[0].replace("\0", ",")
drive = next(a for a in args if a.startswith("if=none,id=d0,"))
disk = drive[len("if=none,id=d0,file="):].replace(",,", "\0").split(",")[0].replace("\0", ",")
status = "running"
if accel == "kvm" and os.path.exists(disk + ".kvm-abort"):
    sys.stderr.write("qemu-system-x86_64: ../../accel/kvm/kvm-all.c:2850: kvm_cpu_exec: Assertion `run->exit_reason != KVM_EXIT_UNKNOWN' failed.\n")
    sys.stderr.write("RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000\n" * 20)
    sys.stderr.flush()
    os.abort()
elif accel == "kvm" and os.path.exists(disk + ".kvm-internal-error"):
    sys.stderr.write("KVM internal error. Suberror: 1\nemulation failure\n")
    sys.stderr.flush()
    status = "internal-error"
elif accel == "kvm":
    sys.stderr.write("fake-qemu: Could not access KVM kernel module: No such file or directory\n")
    sys.exit(1)
print("fake console: booted", flush=True)
if "-kernel" in args:
    # Direct kernel boot: the files must be there while QEMU runs (real
    # QEMU reads them at start) and no firmware flash is attached.
    def size(opt):
        return os.path.getsize(args[args.index(opt) + 1]) if opt in args else 0
    append = args[args.index("-append") + 1] if "-append" in args else ""
    pflash = any(a.startswith("if=pflash") for a in args)
    print("fake console: direct boot: kernel %d bytes, initrd %d bytes, append %r, pflash %s"
          % (size("-kernel"), size("-initrd"), append, pflash), flush=True)
if os.path.exists(disk + ".guest-fatal"):
    def fatal():
        time.sleep(0.5)
        print("bootapp-init: [   2.345678] data volume: mounted /dev/vda", flush=True)
        print("bootapp-init: [   2.400000] fatal: data volume: e2fsck /dev/vdb: exit status 4 (errors left uncorrected)", flush=True)
        print("bootapp-init: [   2.500000] power off", flush=True)
        os._exit(0)
    threading.Thread(target=fatal, daemon=True).start()
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
