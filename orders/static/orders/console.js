"use strict";
// The staff console: each open order in full, with the buttons its status allows. A click
// posts the new status; the socket brings the result to every screen, this one included.
(function () {
  const live = window.OrdersLive;
  const el = live.element;
  const refusals = new Map(); // order id -> {status the order had, reason}
  let latest = { orders: [], soldOut: [] };

  function csrfToken() {
    return document.querySelector("meta[name=csrf-token]").content;
  }

  function post(order, status, button) {
    button.disabled = true;
    fetch(document.body.dataset.ordersUrl + order.id + "/status/", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ status: status }),
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.ok) {
          refusals.delete(order.id);
        } else {
          const current = result.body.order || order;
          refusals.set(order.id, { status: current.status, reason: result.body.error });
        }
        if (result.body.order) merge(result.body.order);
        render(latest);
      })
      .catch(function () {
        refusals.set(order.id, { status: order.status, reason: "Not sent: the server is away." });
        render(latest);
      });
  }

  function merge(order) {
    latest.orders = latest.orders.filter(function (o) { return o.id !== order.id; });
    latest.orders.push(order);
  }

  function card(order) {
    const node = el("article", "card");
    node.dataset.order = order.id;
    node.dataset.status = order.status;
    const head = el("header");
    head.append(el("span", "number", order.number), el("span", "status", order.status_label));
    head.append(el("span", "placed", order.placed), el("span", "phone", order.phone));
    node.append(head);
    const lines = el("ul", "lines");
    order.lines.forEach(function (line) {
      const item = el("li", null, line.quantity + " × " + line.name);
      if (line.options.length) item.append(el("span", "options", " (" + line.options.join(", ") + ")"));
      lines.append(item);
    });
    node.append(lines, el("p", "total", "Total " + order.total));
    const steps = el("ol", "steps");
    order.steps.forEach(function (step) {
      const li = el("li", null, step.label + " " + step.local);
      li.dataset.step = step.status;
      li.title = step.at;
      steps.append(li);
    });
    node.append(steps);
    if (order.actions.length) {
      const buttons = el("div", "actions");
      order.actions.forEach(function (action) {
        const button = el("button", "action", action.label);
        button.type = "button";
        button.dataset.status = action.status;
        button.addEventListener("click", function () { post(order, action.status, button); });
        buttons.append(button);
      });
      node.append(buttons);
    }
    const refusal = refusals.get(order.id);
    if (refusal && refusal.status === order.status) {
      node.append(el("p", "refused", refusal.reason));
    }
    return node;
  }

  function render(state) {
    latest = state;
    const byAge = state.orders.slice().sort(function (a, b) { return a.id - b.id; });
    const open = byAge.filter(function (o) { return o.open; });
    const done = byAge.filter(function (o) { return !o.open; }).reverse();
    const openList = document.getElementById("open-orders");
    openList.replaceChildren.apply(openList, open.map(card));
    const doneList = document.getElementById("done-orders");
    doneList.replaceChildren.apply(doneList, done.map(card));
    document.getElementById("no-orders").hidden = open.length > 0;
    const soldOut = document.getElementById("sold-out");
    soldOut.hidden = state.soldOut.length === 0;
    soldOut.textContent = "Sold out: " + state.soldOut.join(", ");
  }

  live.connect(render);
})();
