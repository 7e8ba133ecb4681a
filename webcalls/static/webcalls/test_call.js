"use strict";
// A test call from the browser: the microphone goes to the server as mu-law 8 kHz frames (the
// worklet), the agent's audio comes back the same way and is played in order; marks are echoed
// when playback reaches them (as Twilio does), "clear" drops what is queued. The transcript
// and each answer's latency come from the server as they are written.
(function () {
  const body = document.body;
  const startButton = document.getElementById("start");
  const hangUpButton = document.getElementById("hang-up");
  const statusLine = document.getElementById("status");
  const transcript = document.getElementById("transcript");
  const stats = document.getElementById("stats");
  const callLink = document.getElementById("call-link");

  const DECODE = new Float32Array(256); // mu-law byte -> sample in [-1, 1]
  for (let code = 0; code < 256; code += 1) {
    const u = ~code & 0xff;
    const exponent = (u >> 4) & 0x07;
    const magnitude = (((u & 0x0f) << 3) + 0x84) << exponent;
    DECODE[code] = ((u & 0x80) ? 0x84 - magnitude : magnitude - 0x84) / 32768;
  }

  let socket = null;
  let context = null;
  let microphone = null;
  let capture = null;
  let framesSent = 0;
  let bytesReceived = 0;
  let secondsPlayed = 0;
  let playEnd = 0; // when the audio queued so far finishes playing (context time)
  let playing = []; // sources scheduled, not yet ended: [{source, marks: [names]}]
  let hungUp = false;

  function show(state, text) {
    body.dataset.state = state;
    statusLine.textContent = text;
  }

  function updateStats() {
    body.dataset.framesSent = String(framesSent);
    body.dataset.framesReceived = String(Math.round(bytesReceived / 160));
    body.dataset.secondsPlayed = secondsPlayed.toFixed(2);
    stats.textContent = "Sent " + (framesSent / 50).toFixed(1) + " s of your voice · received " +
      (bytesReceived / 8000).toFixed(1) + " s of the agent's";
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  // -- the agent's audio
  function play(bytes) {
    bytesReceived += bytes.length;
    const buffer = context.createBuffer(1, bytes.length, 8000);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < bytes.length; i += 1) samples[i] = DECODE[bytes[i]];
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const at = Math.max(playEnd, context.currentTime + 0.02);
    source.start(at);
    playEnd = at + buffer.duration;
    const entry = { source: source, marks: [], seconds: buffer.duration };
    source.onended = function () { ended(entry); };
    playing.push(entry);
    updateStats();
  }

  function ended(entry) {
    const i = playing.indexOf(entry);
    if (i < 0) return;
    playing.splice(i, 1);
    if (!entry.cleared) secondsPlayed += entry.seconds;
    entry.marks.forEach(function (name) { send({ type: "mark", name: name }); });
    updateStats();
  }

  function mark(name) {
    // Echoed once the audio sent before it has played: right away if nothing is playing.
    if (playing.length) playing[playing.length - 1].marks.push(name);
    else send({ type: "mark", name: name });
  }

  function clear() {
    // The caller is talking over the agent: drop what is queued. The marks come back, as
    // Twilio sends them after a clear.
    playing.slice().forEach(function (entry) {
      entry.cleared = true;
      try { entry.source.stop(); } catch (e) { /* not started yet */ }
      ended(entry);
    });
    playEnd = context.currentTime;
  }

  // -- the transcript
  function line(className, index) {
    let item = index === undefined ? null : document.getElementById("turn-" + index);
    if (!item) {
      item = document.createElement("li");
      if (index !== undefined) item.id = "turn-" + index;
      transcript.appendChild(item);
    }
    item.className = className;
    item.textContent = "";
    return item;
  }

  function span(parent, className, text) {
    const node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function showTurn(turn) {
    const item = line(turn.speaker, turn.index);
    span(item, "who", turn.speaker === "agent" ? "Agent" : "You");
    span(item, "text", turn.text);
    if (turn.interrupted) span(item, "cut", "(interrupted)");
    if (turn.latency_ms !== null && turn.latency_ms !== undefined) {
      const latency = span(item, "latency", turn.latency_ms + " ms");
      latency.title = Object.keys(turn.timings).map(function (k) {
        return k + " " + turn.timings[k];
      }).join(", ");
    }
  }

  function showEvent(event) {
    const item = line("event");
    const name = event.data && event.data.name ? " " + event.data.name : "";
    item.textContent = event.kind.replace("_", " ") + name;
  }

  function handle(message) {
    if (message.type === "mark") mark(message.name);
    else if (message.type === "clear") clear();
    else if (message.type === "turn") showTurn(message);
    else if (message.type === "event") showEvent(message);
    else if (message.type === "call") {
      body.dataset.callId = String(message.call_id);
      callLink.querySelector("a").href = message.admin_url;
      callLink.hidden = false;
      show("live", "On the call: speak to the agent.");
    } else if (message.type === "ended") {
      hungUp = true;
      show("ended", message.reason ? "Call ended: " + message.reason : "Call ended.");
    }
  }

  // -- the call
  async function start() {
    startButton.disabled = true;
    show("starting", "Asking for the microphone…");
    try {
      if (!window.isSecureContext) throw new Error("the page must be served over https");
      context = new AudioContext();
      await context.audioWorklet.addModule(body.dataset.worklet);
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
    } catch (error) {
      show("failed", "No microphone: " + error.message);
      startButton.disabled = false;
      return;
    }
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + body.dataset.socket);
    socket.binaryType = "arraybuffer";
    socket.onopen = function () {
      const source = context.createMediaStreamSource(microphone);
      capture = new AudioWorkletNode(context, "mu-law-capture");
      capture.port.onmessage = function (event) {
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(event.data);
        framesSent += 1;
        if (framesSent % 25 === 0) updateStats();
      };
      source.connect(capture);
      hangUpButton.disabled = false;
      show("connecting", "Connecting the agent…");
    };
    socket.onmessage = function (event) {
      if (typeof event.data === "string") handle(JSON.parse(event.data));
      else play(new Uint8Array(event.data));
    };
    socket.onclose = function (event) {
      stop();
      if (!hungUp) {
        show("ended", event.code === 1006 && body.dataset.state === "starting"
          ? "Refused: you may not talk to this agent." : "Call ended.");
      }
    };
  }

  function stop() {
    if (capture) capture.disconnect();
    if (microphone) microphone.getTracks().forEach(function (track) { track.stop(); });
    hangUpButton.disabled = true;
    startButton.disabled = false;
    updateStats();
  }

  startButton.addEventListener("click", start);
  hangUpButton.addEventListener("click", function () {
    hungUp = true;
    show("ended", "You hung up.");
    if (socket) socket.close(1000);
  });
})();
