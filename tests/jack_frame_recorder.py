"""A frame-stamping JACK MIDI receiver, run as its own process: ``python jack_frame_recorder.py CLIENT OUT``.

Registers ``CLIENT:input`` and writes one line per event to OUT, ``FRAME: HH HH HH``,
where FRAME is JACK's own frame time of the event (``last_frame_time`` of its
cycle plus its offset). ``jack_midi_dump -a`` instead adds up the frames of the
cycles it was called for, so every cycle the dummy driver skips on a busy machine
shifts all later stamps by a period; JACK's frame time does not skip. A process of
its own: its Python callback shares the GIL only with this process's writer thread, which
hands it over within a quarter period (sys.setswitchinterval), and it never runs the cyclic
garbage collector: an automatic collection, triggered by the callback's own allocations at the
same count every run, held the GIL past a 64-frame cycle and lost the same messages run after
run. Ends on SIGTERM or SIGINT, after writing what it has.
"""
from __future__ import annotations

import gc
import signal
import sys
import threading

import jack


def main(client_name: str, out_path: str) -> None:
    client = jack.Client(client_name, no_start_server=True)
    # the callback needs the GIL every cycle; the main thread (writing lines) must hand it over within a
    # fraction of a period, not the default 5 ms switch interval (longer than a 64-frame period)
    sys.setswitchinterval(0.25 * client.blocksize / client.samplerate)
    port = client.midi_inports.register("input")
    gc.disable()  # what the callback allocates is acyclic: reference counting frees it (see the docstring)
    gc.freeze()
    received: list[tuple[int, bytes]] = []
    done = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        base = client.last_frame_time
        for offset, data in port.incoming_midi_events():
            received.append((base + offset, bytes(data)))

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    written = 0
    with client, open(out_path, "w") as out:
        while not done.wait(0.05):
            while written < len(received):
                frame, data = received[written]
                out.write(f"{frame}: {data.hex(' ')}\n")
                written += 1
            out.flush()
    with open(out_path, "a") as out:
        for frame, data in received[written:]:
            out.write(f"{frame}: {data.hex(' ')}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
