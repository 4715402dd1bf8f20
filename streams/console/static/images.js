"use strict";
// The read's images in the alert view (issue 18, item 1; P7): the plate crop shown large beside the
// listed plate, the read and the listed plate position by position with the characters that differ
// marked (OCR-equivalent characters, a partial entry's open positions), the overview image as a
// thumbnail that opens large. "Visually verified" stays disabled until the plate image has loaded
// here; the server refuses the verification anyway until the image was served to this person.
//
// One entry point, renderImages(detail), called by console.js each time it draws the alert view.
// Images come only from this console (/api/alerts/<id>/images/<kind>: same origin, audited, P15);
// every text is set as text, never as HTML. It uses console.js's el().

const MARK_TEXT = {
  same: "",
  equivalent: "≈",
  wildcard: "any",
  different: "≠",
  missing: "—",
};

// One plate as a row of character boxes; each box says in words what it is (aria-label, title), and
// a differing box is drawn differently (border and symbol), so colour is never the only cue.
function plateRow(label, items, side) {
  return el("div", {class: "plate-row", role: "group", "aria-label": label},
    el("span", {class: "plate-row-label", text: label}),
    ...items.map((item) => {
      const shown = item[side] || " ";
      return el("span", {
        class: "ch mark-" + item.mark,
        "aria-label": item.label,
        title: item.label,
        "data-mark": item.mark,
      }, el("span", {class: "ch-text", text: shown}),
      el("span", {class: "ch-cue", "aria-hidden": "true", text: MARK_TEXT[item.mark] || ""}));
    }));
}

function diffPanel(d) {
  const items = d.plate_diff || [];
  const marked = items.filter((item) => item.mark !== "same");
  return el("div", {class: "plate-diff", id: "plate-diff"},
    plateRow("Read", items, "read"),
    plateRow("Listed", items, "listed"),
    marked.length
      ? el("ul", {class: "diff-notes", id: "diff-notes"}, ...marked.map((item) => el("li", {text: item.label})))
      : el("p", {class: "diff-notes", id: "diff-notes", text: "Every character is the same as listed."}));
}

// The crop, large; or, when this console holds no image, what to verify against instead.
function cropPanel(d, box) {
  const v = d.verification;
  if (v.plate_image) {
    const figure = el("figure", {class: "plate-crop"});
    const image = el("img", {id: "plate-image", alt: "plate crop captured for " + d.read.plate + " at " + d.read.camera});
    image.addEventListener("load", () => {
      box.dataset.plateLoaded = d.alert_id;
      gateVerify(d);
    });
    image.addEventListener("error", () => {
      figure.replaceChildren(el("p", {class: "no-image error",
        text: "The plate image could not be loaded: reload the alert; until it is seen, verification is refused (P7)."}));
    });
    image.src = v.plate_image;
    figure.append(image, el("figcaption", {text: "Plate as captured · " + d.read.camera}));
    return figure;
  }
  if (v.image_url) {
    return el("p", {class: "no-image"}, "Image held by the camera vendor: ",
      el("a", {href: v.image_url, target: "_blank", rel: "noopener noreferrer", text: "open it"}),
      " and compare it with the listed plate before verifying.");
  }
  const text = d.read.image_ref
    ? "The camera's image is not shown here (" + d.read.image_ref + "): verify against the read text"
    : "No image from this camera: verify against the read text";
  return el("p", {class: "no-image", id: "no-image", text});
}

// The overview (vehicle and scene) as a thumbnail; a click shows it large, Escape or Close shrinks it.
function overviewPanel(d) {
  const url = d.verification.overview_image;
  if (!url) return document.createTextNode("");
  const figure = el("figure", {class: "overview", id: "overview"});
  const open = el("button", {type: "button", class: "overview-open", "aria-expanded": "false",
    "aria-label": "Overview image: show it large"});
  const image = el("img", {alt: "overview image of the vehicle read as " + d.read.plate});
  const close = el("button", {type: "button", class: "overview-close", text: "Close"});
  const toggle = (large) => {
    figure.classList.toggle("large", large);
    open.setAttribute("aria-expanded", String(large));
    (large ? close : open).focus();
  };
  open.addEventListener("click", () => toggle(!figure.classList.contains("large")));
  close.addEventListener("click", () => toggle(false));
  figure.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && figure.classList.contains("large")) {
      event.stopPropagation();
      toggle(false);
    }
  });
  image.addEventListener("error", () => { figure.hidden = true; }); // the camera sent none
  image.src = url;
  open.append(image);
  figure.append(open, close, el("figcaption", {text: "Overview · click to enlarge"}));
  return figure;
}

// P7: with a stored plate image, the verification is made against it: the button and the evidence
// field wait for the image to be on screen.
function gateVerify(d) {
  const form = document.getElementById("form-verify");
  if (!form || !d.verification.image_required) return;
  const box = document.getElementById("d-images");
  const loaded = box.dataset.plateLoaded === d.alert_id;
  const button = form.querySelector("#action-verify");
  const evidence = form.querySelector("#evidence");
  form.querySelector("input[name=evidence_shown]").value = loaded ? "image" : "";
  if (evidence) {
    evidence.dataset.shown = loaded ? "image" : "";
    const note = evidence.querySelector(".meta");
    if (note && loaded) note.textContent = "The plate image above is on screen: compare it with the listed plate (P7)";
  }
  if (button) {
    button.disabled = !loaded;
    button.title = loaded ? "" : "Enabled once the plate image has loaded (P7)";
  }
}

function renderImages(d) {
  const box = document.getElementById("d-images");
  const drawnFor = d.alert_id + "|" + (d.verification.plate_image || d.verification.image_url || "");
  if (box.dataset.drawnFor !== drawnFor) { // a live update of the same alert keeps the images loaded
    box.dataset.drawnFor = drawnFor;
    delete box.dataset.plateLoaded;
    box.replaceChildren(
      el("div", {class: "plate-compare"}, cropPanel(d, box), diffPanel(d)),
      overviewPanel(d));
  } else {
    box.querySelector(".plate-diff").replaceWith(diffPanel(d));
  }
  gateVerify(d);
}
