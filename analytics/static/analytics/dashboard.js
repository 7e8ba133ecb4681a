// The analytics page's charts, drawn from the JSON the page carries (json_script): no inline
// script, so the Content-Security-Policy stays strict.
(function () {
  "use strict";
  const source = document.getElementById("analytics-data");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  const drawn = [];

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) {
      config.options = Object.assign({ animation: false, responsive: true }, config.options);
      drawn.push(new Chart(canvas, config));
    }
  }

  draw("chart-calls", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        { label: "Inbound", data: data.calls.inbound, stack: "calls" },
        { label: "Outbound", data: data.calls.outbound, stack: "calls" },
        { label: "Answered", data: data.answered, type: "line" },
      ],
    },
  });
  draw("chart-orders", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        { label: "Orders", data: data.orders, yAxisID: "y" },
        { label: "Revenue", data: data.revenue, type: "line", yAxisID: "revenue" },
      ],
    },
    options: { scales: { revenue: { position: "right", grid: { drawOnChartArea: false } } } },
  });
  draw("chart-latency", {
    type: "bar",
    data: {
      labels: data.latency.labels,
      datasets: [
        { label: "p50", data: data.latency.p50 },
        { label: "p95", data: data.latency.p95 },
      ],
    },
  });
  draw("chart-funnels", {
    type: "bar",
    data: {
      labels: ["Dialed", "Answered", "By a person", "With an outcome"],
      datasets: data.funnels.map(function (f) {
        return { label: f.campaign, data: f.steps };
      }),
    },
  });
  // For the browser test: how many charts were drawn.
  document.body.dataset.chartsDrawn = String(drawn.length);
})();
