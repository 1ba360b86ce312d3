/* Store credit widgets: tell the Dashboard how tall the content is (App Bridge action
   `widgetResize`, which the Dashboard 3.23 widget frame listens for: saleor-dashboard
   src/extensions/hooks/useWidgetIframeAutoHeight.ts). Nothing else: the figures are
   rendered by the server. The message carries only a height. */
"use strict";
(() => {
  let last = 0;
  const report = () => {
    const main = document.querySelector("main");
    if (!main || window.parent === window) return;
    const height = Math.ceil(main.getBoundingClientRect().height);
    if (!height || height === last) return;
    last = height;
    const actionId = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
    window.parent.postMessage({ type: "widgetResize", payload: { actionId, height } }, "*");
  };
  window.addEventListener("load", report);
  if ("ResizeObserver" in window) window.addEventListener("load", () => new ResizeObserver(report).observe(document.body));
})();
