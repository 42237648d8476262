"""Live playback: the real-time player, the bar source that feeds it, MIDI ports and clock sync.

Imports point one way: ``realtime`` <- ``ports`` <- ``clock_sync``; ``realtime`` <- ``bar_source``;
``ports``, ``realtime`` <- ``player``; ``ports``, ``realtime`` <- ``jack_backend`` (the native JACK
client; imports ``jack`` only when used). Nothing else in ``edgegen.runtime`` imports from here.
"""
