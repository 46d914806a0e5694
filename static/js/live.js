// The live charging panel (docs/live.md): keeps the server-rendered panels on the dashboard current over the
// /ws/live/ WebSocket. The page works without it (the server's state, as of the page load); with it, each
// `panel` event updates its session in place, a new session is added from <template id="live-panel-template">,
// and changes of status are announced in the polite live region. The socket reconnects with exponential
// backoff and jitter; a refusal (signed out: close code 4401) stops it.
(function () {
  "use strict";

  var root = document.querySelector("[data-live]");
  if (!root || !("WebSocket" in window)) {
    return;
  }
  var labels = JSON.parse(document.getElementById("live-labels").textContent);
  var list = root.querySelector("[data-live-panels]");
  var empty = root.querySelector("[data-live-empty]");
  var connection = root.querySelector("[data-live-connection]");
  var announcer = root.querySelector("[data-live-announcer]");
  var template = document.getElementById("live-panel-template");
  var lang = document.documentElement.lang || "en";
  var DASH = "—";
  var UNAUTHENTICATED = 4401;
  var MIN_DELAY = 1000;
  var MAX_DELAY = 30000;
  var delay = MIN_DELAY;
  var socket = null;

  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)[sd]/g, function (_, name) {
      return values[name];
    });
  }

  function number(value, places, unit) {
    if (value === null || value === undefined) {
      return DASH;
    }
    var formatted = new Intl.NumberFormat(lang, {
      minimumFractionDigits: places,
      maximumFractionDigits: places,
    }).format(value);
    return formatted + " " + unit;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) {
      return DASH;
    }
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 60) {
      return interpolate(labels.minutes, { minutes: minutes });
    }
    return interpolate(labels.hoursMinutes, { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  }

  function priceText(price) {
    // At least two decimals, no trailing zeros beyond: 0.25, 0.33527 (as binding/live.py shows it).
    var trimmed = String(Number(price));
    var decimals = (trimmed.split(".")[1] || "").length;
    return decimals < 2 ? Number(price).toFixed(2) : trimmed;
  }

  function time(iso, zone) {
    if (!iso) {
      return DASH;
    }
    try {
      return new Intl.DateTimeFormat(lang, { timeStyle: "short", timeZone: zone }).format(new Date(iso));
    } catch (error) {
      return iso;
    }
  }

  function shown(panel) {
    return {
      vehicle: panel.vehicle,
      vin_last6: panel.vin_last6 || "",
      premise_address: panel.premise_address,
      status_text: labels.status[panel.status] || panel.status_text,
      charging_state_label: labels.charging[panel.charging_state || ""] || panel.charging_state_label,
      state_of_charge: number(panel.state_of_charge, 1, "%"),
      power_kw: number(panel.power_kw, 1, "kW"),
      session_energy_kwh: number(panel.session_energy_kwh, 2, "kWh"),
      time_to_complete: duration(panel.time_to_complete_s),
      price:
        panel.price_per_kwh === null
          ? DASH
          : interpolate(labels.price, {
              period: panel.period_label || labels.priceNow,
              price: priceText(panel.price_per_kwh),
            }),
      cost_so_far: panel.cost_so_far === null ? DASH : "$" + panel.cost_so_far,
      updated_at: time(panel.updated_at, panel.time_zone),
    };
  }

  function announce(text) {
    // A polite region only speaks when its text changes; clear it first so a repeat is read again.
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = text;
    }, 100);
  }

  function find(bindingId) {
    var panels = list.querySelectorAll("[data-binding-id]");
    for (var i = 0; i < panels.length; i++) {
      if (panels[i].getAttribute("data-binding-id") === bindingId) {
        return panels[i];
      }
    }
    return null;
  }

  function fill(element, panel) {
    var values = shown(panel);
    element.setAttribute("data-binding-id", panel.binding_id);
    element.setAttribute("data-status", panel.status);
    element.setAttribute("data-charging-state", panel.charging_state || "");
    Object.keys(values).forEach(function (field) {
      var target = element.querySelector('[data-field="' + field + '"]');
      if (target && target.textContent !== values[field]) {
        target.textContent = values[field];
      }
    });
    var vin = element.querySelector(".live-panel__vin");
    if (vin) {
      vin.hidden = !panel.vin_last6;
    }
    var updated = element.querySelector('[data-field="updated_at"]');
    if (updated) {
      updated.setAttribute("datetime", panel.updated_at || "");
    }
    return values;
  }

  function update(panel) {
    var element = find(panel.binding_id);
    if (!panel.active) {
      if (element) {
        element.remove();
        announce(interpolate(labels.removed, { vehicle: panel.vehicle }));
      }
    } else if (!element) {
      element = template.content.firstElementChild.cloneNode(true);
      var values = fill(element, panel);
      list.insertBefore(element, list.firstChild);
      announce(interpolate(labels.added, { vehicle: values.vehicle, status: values.charging_state_label }));
    } else {
      var before = element.getAttribute("data-status") + "|" + element.getAttribute("data-charging-state");
      var now = fill(element, panel);
      if (before !== panel.status + "|" + (panel.charging_state || "")) {
        announce(interpolate(labels.added, { vehicle: now.vehicle, status: now.charging_state_label }));
      }
    }
    empty.hidden = list.querySelector("[data-binding-id]") !== null;
  }

  function replaceAll(panels) {
    var current = {};
    panels.forEach(function (panel) {
      current[panel.binding_id] = true;
    });
    list.querySelectorAll("[data-binding-id]").forEach(function (element) {
      if (!current[element.getAttribute("data-binding-id")]) {
        element.remove();
      }
    });
    panels
      .slice()
      .reverse()
      .forEach(function (panel) {
        var element = find(panel.binding_id);
        if (element) {
          fill(element, panel);
        } else {
          element = template.content.firstElementChild.cloneNode(true);
          fill(element, panel);
          list.insertBefore(element, list.firstChild);
        }
      });
    empty.hidden = panels.length > 0;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-live-socket"));
    socket.addEventListener("open", function () {
      delay = MIN_DELAY;
      connection.textContent = labels.connected;
      root.setAttribute("data-live-state", "open");
    });
    socket.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "panels") {
        replaceAll(message.panels);
      } else if (message.type === "panel") {
        update(message.panel);
      }
    });
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === UNAUTHENTICATED) {
        connection.textContent = labels.signedOut;
        root.setAttribute("data-live-state", "closed");
        return;
      }
      connection.textContent = labels.reconnecting;
      root.setAttribute("data-live-state", "reconnecting");
      // Full jitter: a server restart must not have every dashboard reconnect in the same instant.
      window.setTimeout(connect, Math.random() * delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    });
  }

  connect();
})();
