"use strict";
// The shop screen: open orders by status, in large type; picked-up and cancelled ones leave.
(function () {
  const COLUMNS = ["received", "in_progress", "ready"];

  function render(state) {
    COLUMNS.forEach(function (status) {
      const list = document.getElementById(status);
      const tickets = state.orders
        .filter(function (o) { return o.status === status; })
        .sort(function (a, b) { return a.id - b.id; })
        .map(function (o) {
          const ticket = window.OrdersLive.element("li", "ticket", o.number);
          ticket.dataset.order = o.id;
          ticket.dataset.status = o.status;
          return ticket;
        });
      list.replaceChildren.apply(list, tickets);
    });
  }

  window.OrdersLive.connect(render);
})();
