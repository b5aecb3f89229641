// The gallery page fills in live: it follows the page's signed event stream (`data-events`)
// and updates each scene as its job moves on. Every value goes in through textContent or a
// DOM property, never as HTML.
"use strict";

(function () {
  const root = document.getElementById("gallery");
  if (!root) {
    return;
  }
  const FINISHED = new Set(["succeeded", "failed", "canceled", "missing"]);
  const LABELS = {
    queued: "queued",
    waiting_for_semantest: "waiting for the image service",
    started: "started",
    weaving: "weaving the prompt",
    generating: "drawing",
    failed: "failed",
    canceled: "canceled",
    missing: "gone (the job expired)",
  };
  const scenes = new Map();
  root.querySelectorAll("article.scene").forEach((scene) => scenes.set(scene.dataset.job, scene));

  function summarize() {
    const counts = {};
    scenes.forEach((scene) => {
      counts[scene.dataset.status] = (counts[scene.dataset.status] || 0) + 1;
    });
    let finished = 0;
    FINISHED.forEach((status) => {
      finished += counts[status] || 0;
    });
    const parts = [`${finished} of ${scenes.size} finished`];
    ["succeeded", "failed", "canceled"].forEach((status) => {
      if (counts[status]) {
        parts.push(`${counts[status]} ${status}`);
      }
    });
    document.getElementById("summary").textContent = parts.join(" · ");
  }

  function showPicture(scene, url) {
    const frame = scene.querySelector(".frame");
    if (frame.querySelector("img")) {
      return;
    }
    const img = document.createElement("img");
    img.alt = `${scene.querySelector(".entry-id").textContent} ${scene.querySelector(".speaker").textContent}`;
    img.src = url || scene.dataset.image;
    frame.replaceChildren(img);
  }

  function showState(scene, status, progress) {
    const frame = scene.querySelector(".frame");
    let placeholder = frame.querySelector(".placeholder");
    if (!placeholder) {
      return;
    }
    placeholder.querySelector(".state").textContent = LABELS[status] || status;
    const bar = placeholder.querySelector("progress");
    if (bar && typeof progress === "number") {
      bar.value = progress;
    }
  }

  function update(item) {
    const scene = scenes.get(item.job_id);
    if (!scene) {
      return;
    }
    scene.dataset.status = item.status;
    scene.querySelector(".status").textContent = item.status;
    if (item.status === "succeeded") {
      showPicture(scene, item.image_url);
    } else {
      showState(scene, item.status, item.progress);
    }
    if (item.prompt) {
      const details = scene.querySelector("details.prompt");
      details.querySelector("p").textContent = item.prompt;
      details.hidden = false;
    }
    if (item.error) {
      const error = scene.querySelector(".error");
      error.textContent = `${item.error.code || "error"}: ${item.error.message || ""}`;
      error.hidden = false;
    }
    summarize();
  }

  summarize();
  const url = root.dataset.events;
  if (!url || typeof EventSource === "undefined") {
    return;
  }
  const source = new EventSource(url);
  source.addEventListener("item", (event) => update(JSON.parse(event.data)));
  source.addEventListener("done", () => {
    source.close();
    root.dataset.live = "done";
  });
  source.addEventListener("error", () => {
    // A refused reconnect (the link expired) closes the source; a dropped one is retried by the browser.
    if (source.readyState === EventSource.CLOSED) {
      root.dataset.live = "stopped";
    }
  });
})();
