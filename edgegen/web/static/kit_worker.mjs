// Builds the drum kit's one-shots off the main thread (a few hundred ms of sines, noise and biquads), so the page
// stays responsive and Play finds the kit ready. Message in: {instruments, sampleRate, kit}; out: renderKit's result.

import { renderKit } from "./synth.mjs";

self.onmessage = ({ data }) => {
  try {
    const kit = renderKit(data.instruments, data.sampleRate, data.kit);
    const buffers = kit.voices.flatMap((v) => [v.body.buffer, v.bright.buffer]);
    self.postMessage({ kit }, buffers);
  } catch (error) {
    self.postMessage({ error: error.message });
  }
};
