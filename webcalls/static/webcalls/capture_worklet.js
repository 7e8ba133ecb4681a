"use strict";
// The microphone, as the engine hears a phone line: resampled from the audio context's rate to
// 8 kHz (a windowed-sinc low-pass below 3.6 kHz, so nothing folds into the band), encoded as
// G.711 mu-law, and posted to the page in 20 ms frames of 160 bytes.
const OUT_RATE = 8000;
const FRAME = 160;

function muLaw(sample) {
  // sample in [-1, 1] -> one mu-law byte (ITU-T G.711, as the server's codec decodes it)
  let pcm = Math.max(-32768, Math.min(32767, Math.round(sample * 32768)));
  const sign = pcm < 0 ? 0x80 : 0;
  if (pcm < 0) pcm = -pcm;
  pcm = Math.min(pcm, 32635) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent -= 1;
  const mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate; // input samples per output sample
    this.gain = Math.min(1, (0.9 * outRate) / inRate); // cutoff at 0.45 of the output rate
    this.half = Math.ceil(8 * Math.max(1, this.step)); // kernel half-width, in input samples
    this.buffer = new Float32Array(0);
    this.t = this.half; // the next output's position in `buffer`
  }

  kernel(d) {
    if (Math.abs(d) >= this.half) return 0;
    const x = this.gain * d;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    return this.gain * sinc * 0.5 * (1 + Math.cos((Math.PI * d) / this.half));
  }

  process(input) {
    const joined = new Float32Array(this.buffer.length + input.length);
    joined.set(this.buffer);
    joined.set(input, this.buffer.length);
    const out = [];
    while (this.t + this.half < joined.length) {
      const center = Math.floor(this.t);
      let sum = 0;
      for (let k = center - this.half + 1; k <= center + this.half; k += 1) {
        sum += joined[k] * this.kernel(this.t - k);
      }
      out.push(sum);
      this.t += this.step;
    }
    const keep = Math.max(0, Math.floor(this.t) - this.half);
    this.buffer = joined.slice(keep);
    this.t -= keep;
    return out;
  }
}

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = sampleRate === OUT_RATE ? null : new Resampler(sampleRate, OUT_RATE);
    this.frame = new Uint8Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const samples = this.resampler ? this.resampler.process(channel) : channel;
    for (let i = 0; i < samples.length; i += 1) {
      this.frame[this.filled] = muLaw(samples[i]);
      this.filled += 1;
      if (this.filled === FRAME) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Uint8Array(FRAME);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("mu-law-capture", Capture);
