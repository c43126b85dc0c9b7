// The console's own script: the admin token, the charts, the stock form's Edit buttons.
// The token lives in sessionStorage (this tab only: never a cookie, never localStorage) and goes
// with every htmx request as a bearer token; the console's server forwards it to the API.
(function () {
  'use strict';
  var KEY = 'ordersys.console.token';

  function token() {
    try { return sessionStorage.getItem(KEY) || ''; } catch (e) { return ''; }
  }

  document.addEventListener('htmx:configRequest', function (e) {
    var t = token();
    if (t) e.detail.headers['Authorization'] = 'Bearer ' + t;
  });

  // The login form arrives in fragments; it is handled here, never submitted anywhere.
  document.addEventListener('submit', function (e) {
    if (!e.target || e.target.id !== 'login') return;
    e.preventDefault();
    var v = document.getElementById('token').value.trim().replace(/^bearer\s+/i, '');
    if (!v) return;
    sessionStorage.setItem(KEY, v);
    location.reload();
  });

  document.addEventListener('DOMContentLoaded', function () {
    var out = document.getElementById('logout');
    if (!out) return;
    out.hidden = !token();
    out.addEventListener('click', function () {
      sessionStorage.removeItem(KEY);
      location.reload();
    });
  });

  document.addEventListener('htmx:afterSettle', function (e) {
    // The login prompt replaced the page: put the keyboard where it is needed.
    var tok = document.getElementById('token');
    if (tok && e.detail.target && e.detail.target.id === 'main') tok.focus();
    drawCharts();
  });

  // Inventory: Edit copies a row into the form.
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('button.edit[data-sku]');
    if (!b) return;
    document.getElementById('sku').value = b.dataset.sku;
    var a = document.getElementById('available');
    a.value = b.dataset.available;
    a.focus();
    a.select();
  });

  // System: uPlot charts of the fragment's #system-data. #system-charts is kept across the
  // page's refreshes (hx-preserve), so each refresh only gives the charts new data.
  var charts = {};
  var palette = { COMPLETED: '#1a7f37', FAILED: '#cf222e', CANCELLED: '#bc4c00' };
  var others = ['#8250df', '#0969da', '#57606a'];
  var HEIGHT = 200;

  function fmt(digits, unit) {
    return function (u, v) { return v == null ? '–' : v.toFixed(digits) + unit; };
  }

  function width(box) {
    return Math.max(240, box.clientWidth || (box.parentNode && box.parentNode.clientWidth) || 600);
  }

  function draw(id, series, data) {
    var box = document.getElementById(id);
    if (!box) return;
    var c = charts[id];
    if (c && box.contains(c.root) && c.series.length === series.length) {
      c.setData(data);
      return;
    }
    if (c) c.destroy();
    box.textContent = '';
    charts[id] = new uPlot({
      width: width(box), height: HEIGHT, series: series,
      // Always the last ten minutes (what the sampler keeps), so one sample is not a span of years.
      scales: { x: { time: true, range: function (u, min, max) {
        var end = max == null ? Date.now() / 1000 : max;
        return [end - 600, end];
      } } },
      axes: [{}, { size: 60 }]
    }, data, box);
  }

  function drawCharts() {
    var el = document.getElementById('system-data');
    if (!el || typeof uPlot === 'undefined') return;
    var d = JSON.parse(el.getAttribute('data-chart'));
    var rates = d.outcomes.map(function (o, i) {
      return { label: o, stroke: palette[o] || others[i % others.length], width: 2, value: fmt(2, '/s') };
    });
    draw('chart-throughput', [{}].concat(rates), [d.t].concat(d.rates));
    draw('chart-latency', [{},
      { label: 'p50', stroke: '#0969da', width: 2, value: fmt(0, ' ms') },
      { label: 'p99', stroke: '#8250df', width: 2, value: fmt(0, ' ms') }], [d.t, d.p50, d.p99]);
    draw('chart-backlog', [{},
      { label: 'outbox backlog', stroke: '#bc4c00', width: 2, value: fmt(0, '') },
      { label: 'consumer lag', stroke: '#0969da', width: 2, value: fmt(0, '') }], [d.t, d.backlog, d.lag]);
  }

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (id) {
      var box = document.getElementById(id);
      if (box && box.contains(charts[id].root)) charts[id].setSize({ width: width(box), height: HEIGHT });
    });
  });
})();
