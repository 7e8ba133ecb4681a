"use strict";
// The live connection the board and the console share. The socket sends the whole state when
// it opens ("snapshot") and then each changed order ("order"); after a drop it reconnects with
// backoff and the new snapshot replaces everything, so nothing missed while away stays wrong.
window.OrdersLive = (function () {
  const MAX_DELAY = 10000;

  function connect(onState) {
    const orders = new Map();
    let soldOut = [];
    let attempt = 0;
    let opened = false;
    let showLive = false;
    let socket = null;
    const indicator = document.getElementById("connection");

    function show(state, text) {
      document.body.dataset.connection = state;
      if (indicator) indicator.textContent = text;
    }

    function publish() {
      onState({ orders: Array.from(orders.values()), soldOut: soldOut });
    }

    function handle(message) {
      if (message.type === "snapshot") {
        orders.clear();
        message.orders.forEach(function (o) { orders.set(o.id, o); });
        soldOut = message.sold_out;
        showLive = true;
      } else if (message.type === "order") {
        orders.set(message.order.id, message.order);
      } else if (message.type === "sold_out") {
        soldOut = message.sold_out;
      } else {
        return;
      }
      publish();
      if (showLive) {
        showLive = false;
        show("live", "Live"); // only once the screen shows the whole state, not at the handshake
      }
    }

    function open() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      opened = false;
      socket = new WebSocket(scheme + location.host + document.body.dataset.socket);
      socket.onopen = function () {
        opened = true;
        attempt = 0;
      };
      socket.onmessage = function (event) { handle(JSON.parse(event.data)); };
      socket.onclose = function () {
        show("reconnecting", "Reconnecting…");
        if (!opened) checkSession();
        retry();
      };
    }

    function retry() {
      // 0.5 s, 1 s, 2 s … up to 10 s, jittered so a room of screens does not return at once.
      const delay = Math.min(MAX_DELAY, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
      attempt += 1;
      setTimeout(open, delay);
    }

    function checkSession() {
      // Refused rather than dropped: if the page itself now answers with the login page (the
      // session ended) or 404 (no longer staff), reload to show it instead of retrying forever.
      fetch(location.href, { method: "GET", redirect: "manual", cache: "no-store" })
        .then(function (response) {
          if (response.type === "opaqueredirect" || response.status === 404) location.reload();
        })
        .catch(function () { /* the server is away: keep retrying */ });
    }

    document.addEventListener("visibilitychange", function () {
      // A screen woken from sleep may have missed messages on a socket that looks open.
      if (!document.hidden && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "resync" }));
      }
    });

    open();
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  return { connect: connect, element: element };
})();
