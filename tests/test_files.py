"""Output files: never a replaced device or link, modes and hard links kept, outputs of one command all or none,
and no temporary file left by an error or a signal."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from edgegen.runtime.files import TEMP_PREFIX, OutputError, all_or_none, atomic_output, atomic_write_bytes


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- what is at the destination


def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "out.png"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"out.png: it is a FIFO \(named pipe\), not a regular file"):
        atomic_write_bytes(fifo, b"data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and names(tmp_path) == ["out.png"]


def test_a_symlink_to_a_device_is_refused_and_the_device_survives(tmp_path):
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    with pytest.raises(OutputError, match="it links to /dev/null, which is a character device, not a regular file"):
        atomic_write_bytes(link, b"data")
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert names(tmp_path) == ["null.png"]


def test_an_open_file_descriptor_is_refused_so_a_file_opened_for_appending_survives(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("log\n")
    with open(log, "a") as handle:  # what `fontgen ... --out /dev/stdout >> log.txt` gives
        with pytest.raises(OutputError, match="/dev/fd/.*: it is an open file descriptor, not a file name"):
            atomic_write_bytes(f"/dev/fd/{handle.fileno()}", b"png")
    assert log.read_text() == "log\n" and names(tmp_path) == ["log.txt"]


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "out.mid").mkdir()
    with pytest.raises(OutputError, match="it is a folder, not a regular file"):
        atomic_write_bytes(tmp_path / "out.mid", b"data")


def test_a_symlink_to_a_file_writes_the_file_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "groove.mid"
    target.write_bytes(b"old")
    link = tmp_path / "link.mid"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    dangling = tmp_path / "dangling.mid"
    dangling.symlink_to(tmp_path / "real" / "made.mid")
    atomic_write_bytes(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "real" / "made.mid").read_bytes() == b"made"
    assert names(tmp_path / "real") == ["groove.mid", "made.mid"]


def test_an_existing_files_mode_is_kept_and_a_new_file_follows_the_umask(tmp_path):
    existing = tmp_path / "kept.mid"
    existing.write_bytes(b"old")
    existing.chmod(0o640)
    atomic_write_bytes(existing, b"new")
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and existing.read_bytes() == b"new"
    umask = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "new.mid", b"new")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.mid").stat().st_mode) == 0o640


def test_a_hard_linked_file_is_rewritten_in_place_so_every_link_sees_it(tmp_path):
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    first.write_bytes(b"old")
    first.chmod(0o600)
    os.link(first, second)
    inode = first.stat().st_ino
    atomic_write_bytes(second, b"new content")
    assert first.read_bytes() == second.read_bytes() == b"new content"
    assert first.stat().st_ino == second.stat().st_ino == inode and first.stat().st_nlink == 2
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert names(tmp_path) == ["a.mid", "b.mid"]


def test_a_250_character_name_works_and_temporary_names_are_short(tmp_path, monkeypatch):
    long_name = "n" * 246 + ".png"
    seen = []
    with atomic_output(tmp_path / long_name) as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"png")
    assert (tmp_path / long_name).read_bytes() == b"png" and names(tmp_path) == [long_name]
    assert seen[0].startswith(TEMP_PREFIX) and seen[0].endswith(".png") and len(seen[0]) < 40
    with atomic_output(tmp_path / ("x." + "e" * 240)) as tmp:  # an absurd extension is not copied either
        assert len(tmp.name) < 40


def test_a_failing_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "x.mid") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert names(tmp_path) == []


# ----------------------------------------------------------------------------- several outputs


def test_all_or_none_writes_nothing_when_one_output_fails(tmp_path):
    (tmp_path / "b.png").write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with all_or_none(tmp_path / "a.mid", tmp_path / "b.png"):
            atomic_write_bytes(tmp_path / "a.mid", b"midi")
            with atomic_output(tmp_path / "b.png") as tmp:
                tmp.write_bytes(b"half")
                raise RuntimeError("encoder failed")
    assert names(tmp_path) == ["b.png"] and (tmp_path / "b.png").read_bytes() == b"previous"


def test_all_or_none_checks_every_destination_before_the_work(tmp_path):
    ran = []
    with pytest.raises(OutputError, match="folder .*nodir does not exist"):
        with all_or_none(tmp_path / "a.mid", tmp_path / "nodir" / "x.png"):
            ran.append(True)
    assert not ran and names(tmp_path) == []


def test_all_or_none_writes_every_output_at_the_end(tmp_path):
    with all_or_none(tmp_path / "a.mid", None, tmp_path / "b.png"):
        atomic_write_bytes(tmp_path / "a.mid", b"midi")
        assert not (tmp_path / "a.mid").exists(), "nothing is in place before every output is finished"
        atomic_write_bytes(tmp_path / "b.png", b"png")
    assert (tmp_path / "a.mid").read_bytes() == b"midi" and (tmp_path / "b.png").read_bytes() == b"png"
    assert names(tmp_path) == ["a.mid", "b.png"]


def test_one_file_named_twice_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.mid").write_bytes(b"keep")
    os.link(tmp_path / "a.mid", tmp_path / "hard.mid")
    (tmp_path / "link.png").symlink_to(tmp_path / "new.png")
    for first, second in [("a.mid", "a.mid"), ("a.mid", "sub/../a.mid"), ("a.mid", "hard.mid"),
                          ("new.png", "link.png")]:
        with pytest.raises(OutputError, match="give each output its own file"):
            with all_or_none(tmp_path / first, tmp_path / second):
                pytest.fail("the body must not run")
    with pytest.raises(OutputError, match="written twice"):
        with all_or_none():
            atomic_write_bytes(tmp_path / "b.mid", b"1")
            atomic_write_bytes(tmp_path / "b.mid", b"2")
    assert (tmp_path / "a.mid").read_bytes() == b"keep" and not (tmp_path / "b.mid").exists()
    assert names(tmp_path) == ["a.mid", "hard.mid", "link.png", "sub"]


def test_ctrl_c_during_the_renames_waits_until_every_output_is_in_place(tmp_path, monkeypatch):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a custom handler in this process")
    real_replace = os.replace

    def replace_interrupted(source, destination):
        os.kill(os.getpid(), signal.SIGINT)
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with all_or_none(tmp_path / "a.mid", tmp_path / "b.png"):
            atomic_write_bytes(tmp_path / "a.mid", b"midi")
            atomic_write_bytes(tmp_path / "b.png", b"png")
    assert names(tmp_path) == ["a.mid", "b.png"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ----------------------------------------------------------------------------- signals (real processes)

SLOW_WRITER = """
import os, signal, sys, time
from edgegen.runtime.files import all_or_none, atomic_output
folder, phase = sys.argv[1], sys.argv[2]
if phase == "rename":  # the signal comes while the outputs are being moved into place
    real = os.replace
    def replace(source, destination):
        os.kill(os.getpid(), int(sys.argv[3]))
        time.sleep(0.2)
        real(source, destination)
    os.replace = replace
with all_or_none(folder + "/a.mid", folder + "/b.png"):
    with atomic_output(folder + "/a.mid") as tmp:
        tmp.write_bytes(b"midi")
    with atomic_output(folder + "/b.png") as tmp:
        tmp.write_bytes(b"half a png")
        print("writing", flush=True)
        if phase == "write":
            time.sleep(60)
print("done", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, signum):
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(tmp_path), "write"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    assert any(name.startswith(TEMP_PREFIX) for name in names(tmp_path)), "the temporary files exist meanwhile"
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == -signum, err  # the signal still ends the process the usual way
    assert names(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_during_the_renames_takes_effect_once_every_output_is_in_place(tmp_path, signum):
    done = subprocess.run([sys.executable, "-c", SLOW_WRITER, str(tmp_path), "rename", str(int(signum))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == -signum and "done" not in done.stdout, done.stderr
    assert names(tmp_path) == ["a.mid", "b.png"]
    assert (tmp_path / "b.png").read_bytes() == b"half a png"
