// labeld station page: live updates (Server-Sent Events), the always-focused scan box, the alarm sound.
// Plain JavaScript, no build step, nothing from the network but this page's own server.
"use strict";

(function () {
  const scan = document.getElementById("scan");
  const alarms = document.getElementById("alarms-box");
  const printers = document.getElementById("printers-box");
  const lists = document.getElementById("lists");
  const mute = document.getElementById("mute");
  const FIELDS = "input, select, textarea, button, a";

  // ----- the scan box: a handheld scanner types into whatever has focus, so keep it there --------
  function refocus() {
    if (scan && (!document.activeElement || !document.activeElement.matches(FIELDS) ||
                 document.activeElement === document.body)) {
      scan.focus();
    }
  }
  if (scan) {
    scan.focus();
    scan.addEventListener("blur", () => setTimeout(refocus, 0));
    document.addEventListener("click", (event) => { if (!event.target.closest(FIELDS)) refocus(); });
    document.addEventListener("keydown", (event) => {
      const here = document.activeElement;
      if (here !== scan && !(here && here.matches("input, select, textarea")) && event.key.length === 1) {
        scan.focus();
      }
    });
  }

  // ----- sound: the browser's own audio, three short beeps every few seconds while an alarm stands --
  let muted = localStorage.getItem("labeld-muted") === "1";
  let audio = null;
  let ringing = null;

  function beep() {
    if (muted) return;
    try {
      audio = audio || new AudioContext();
      [0, 0.25, 0.5].forEach((delay) => {
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.frequency.value = 880;
        gain.gain.value = 0.2;
        tone.connect(gain).connect(audio.destination);
        tone.start(audio.currentTime + delay);
        tone.stop(audio.currentTime + delay + 0.15);
      });
    } catch (error) { /* no audio device: the banner still shows */ }
  }

  function alarmsChanged(keys) {
    document.body.dataset.alarms = keys.join(" ");
    if (keys.length && !ringing) {
      beep();
      ringing = setInterval(beep, 4000);
    } else if (!keys.length && ringing) {
      clearInterval(ringing);
      ringing = null;
    }
  }

  function showMute() {
    if (!mute) return;
    mute.textContent = muted ? mute.dataset.off : mute.dataset.on;
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
  }
  if (mute) {
    showMute();
    mute.addEventListener("click", () => {
      muted = !muted;
      localStorage.setItem("labeld-muted", muted ? "1" : "0");
      showMute();
      refocus();
    });
  }

  // ----- live updates ----------------------------------------------------------------------------
  if (alarms && alarms.dataset.events && window.EventSource) {
    const initial = Array.from(alarms.querySelectorAll(".alarm")).map((el) => el.dataset.key);
    alarmsChanged(initial);
    const source = new EventSource(alarms.dataset.events);
    source.addEventListener("panel", (event) => {
      const data = JSON.parse(event.data);
      alarms.innerHTML = data.alarms_html;
      printers.innerHTML = data.printers_html;
      alarmsChanged(data.alarms);
      document.body.dataset.live = "1";
      refocus();
    });
    source.addEventListener("lists", (event) => {
      lists.innerHTML = JSON.parse(event.data).html;
      refocus();
    });
  }
})();
