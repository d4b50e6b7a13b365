// The conference page: captions on, transcript that follows playback, click or Enter to seek, #t= links.
(function () {
  "use strict";
  var video = document.getElementById("player");
  var list = document.getElementById("transcript-list");
  var follow = document.getElementById("follow");
  if (!video) { return; }

  // Adaptive streaming where the browser has no native HLS (Firefox on a desktop): hls.js, published with the site
  // (data-hlsjs), loaded only then; `?hls=js` forces it (tests, comparisons). Its MSE stream replaces the <source>
  // list; the <track> elements (captions, seek thumbnails) stay. If hls.js cannot load or fails, the sources come
  // back and the browser plays the progressive MP4 as before.
  var hlsSource = video.querySelector('source[type="application/vnd.apple.mpegurl"]');
  var forced = /[?&]hls=js(&|$)/.test(location.search);
  if (hlsSource && video.getAttribute("data-hlsjs") && window.MediaSource &&
      (forced || !video.canPlayType("application/vnd.apple.mpegurl"))) {
    var sources = Array.prototype.slice.call(video.querySelectorAll("source"));
    var restore = function () {
      if (window.confcastHls) { window.confcastHls.destroy(); window.confcastHls = null; }
      video.removeAttribute("src");
      var firstTrack = video.querySelector("track");
      sources.forEach(function (source) { video.insertBefore(source, firstTrack); });
      video.load();
    };
    var manifestUrl = hlsSource.src;
    sources.forEach(function (source) { video.removeChild(source); });
    video.load(); // stop fetching the MP4
    var loader = document.createElement("script");
    loader.src = video.getAttribute("data-hlsjs");
    loader.onload = function () {
      if (!window.Hls || !window.Hls.isSupported()) { restore(); return; }
      var hls = new window.Hls({ capLevelToPlayerSize: true });
      window.confcastHls = hls;
      hls.on(window.Hls.Events.ERROR, function (_event, data) { if (data.fatal) { restore(); } });
      hls.loadSource(manifestUrl);
      hls.attachMedia(video);
    };
    loader.onerror = restore;
    document.head.appendChild(loader);
  }
  var buttons = list ? Array.prototype.slice.call(list.querySelectorAll("button[data-start]")) : [];
  var starts = buttons.map(function (b) { return parseFloat(b.getAttribute("data-start")); });

  // Captions on by default (the track marked default: the spoken language), also where a browser ignores `default`.
  function showCaptions() {
    var chosen = video.querySelector("track[default]") ||
      video.querySelector('track[kind="captions"], track[kind="subtitles"]');
    if (chosen && chosen.track && chosen.track.mode === "disabled") { chosen.track.mode = "showing"; }
  }
  showCaptions();

  function seek(seconds, play) {
    video.currentTime = seconds;
    if (play) { var p = video.play(); if (p && p.catch) { p.catch(function () {}); } }
  }

  // The passage being spoken: the last one that starts at or before the current time (binary search).
  function passageAt(now) {
    var low = 0, high = starts.length - 1, found = -1;
    while (low <= high) {
      var mid = (low + high) >> 1;
      if (starts[mid] <= now + 0.05) { found = mid; low = mid + 1; } else { high = mid - 1; }
    }
    return found;
  }
  var current = -1;
  function highlight() {
    var index = passageAt(video.currentTime);
    if (index === current) { return; }
    if (current >= 0) { buttons[current].removeAttribute("aria-current"); }
    current = index;
    if (index < 0) { return; }
    var button = buttons[index];
    button.setAttribute("aria-current", "true");
    // Scroll the panel only (never the page), and not while someone is reading or using the panel.
    if (follow && follow.checked && !list.contains(document.activeElement) && !list.matches(":hover")) {
      var top = button.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top + button.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      }
    }
  }
  video.addEventListener("timeupdate", highlight);
  video.addEventListener("seeked", highlight);

  buttons.forEach(function (button, index) {
    button.addEventListener("click", function () { seek(starts[index], true); });
    button.addEventListener("keydown", function (event) {
      var next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
      if (next === undefined || next < 0 || next >= buttons.length) { return; }
      event.preventDefault();
      buttons[next].focus();
    });
  });

  // The chapter list: a click plays from the chapter's start; the chapter being shown is marked.
  var chapterList = document.getElementById("chapter-list");
  if (chapterList) {
    var chapterButtons = Array.prototype.slice.call(chapterList.querySelectorAll("button[data-start]"));
    var chapterStarts = chapterButtons.map(function (b) { return parseFloat(b.getAttribute("data-start")); });
    chapterButtons.forEach(function (button, index) {
      button.addEventListener("click", function () { seek(chapterStarts[index], true); });
    });
    var markChapter = function () {
      var now = video.currentTime, at = -1;
      for (var i = 0; i < chapterStarts.length; i++) { if (chapterStarts[i] <= now + 0.05) { at = i; } }
      chapterButtons.forEach(function (b, i) {
        if (i === at) { b.setAttribute("aria-current", "true"); } else { b.removeAttribute("aria-current"); }
      });
    };
    video.addEventListener("timeupdate", markChapter);
    video.addEventListener("seeked", markChapter);
  }

  // Seek thumbnails (a WebVTT metadata track whose cues say `sprite.jpg#xywh=x,y,w,h`) on the preview strip.
  var scrub = document.getElementById("scrub");
  var thumbs = video.querySelector('track[kind="metadata"][label="thumbnails"]');
  if (scrub && thumbs && thumbs.track) {
    thumbs.track.mode = "hidden"; // load the cues without showing them
    var preview = scrub.querySelector(".preview"), frame = preview.querySelector(".frame");
    var label = preview.querySelector("time"), played = scrub.querySelector(".played");
    var timeAt = function (event) {
      var box = scrub.getBoundingClientRect();
      return Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * (video.duration || 0);
    };
    var cueAt = function (seconds) {
      var cues = thumbs.track.cues || [];
      for (var i = 0; i < cues.length; i++) {
        if (cues[i].startTime <= seconds && seconds < cues[i].endTime) { return cues[i]; }
      }
      return null;
    };
    scrub.addEventListener("mousemove", function (event) {
      var seconds = timeAt(event), cue = cueAt(seconds), box = scrub.getBoundingClientRect();
      var m = cue && /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(cue.text.trim());
      if (m) {
        frame.style.backgroundImage = 'url("' + new URL(m[1], thumbs.src).href.replace(/"/g, "%22") + '")';
        frame.style.backgroundPosition = -m[2] + "px " + -m[3] + "px";
        frame.style.width = m[4] + "px";
        frame.style.height = m[5] + "px";
      }
      var s = Math.floor(seconds), two = function (n) { return (n < 10 ? "0" : "") + n; };
      label.textContent = (s >= 3600 ? Math.floor(s / 3600) + ":" + two(Math.floor(s % 3600 / 60)) : Math.floor(s / 60)) + ":" + two(s % 60);
      preview.style.left = Math.max(0, Math.min(box.width, event.clientX - box.left)) + "px";
      preview.hidden = false;
    });
    scrub.addEventListener("mouseleave", function () { preview.hidden = true; });
    scrub.addEventListener("click", function (event) { seek(timeAt(event), true); });
    video.addEventListener("timeupdate", function () {
      played.style.width = (video.duration ? 100 * video.currentTime / video.duration : 0) + "%";
    });
  }

  // Links to a moment: #t=1m23s, #t=1h02m03s, #t=83 or #t=1:23 start playback there.
  function hashSeconds() {
    var match = /[#&]t=([0-9hms:.]+)/.exec(location.hash);
    if (!match) { return null; }
    var text = match[1], seconds = 0;
    if (/^[0-9.]+$/.test(text)) { return parseFloat(text); }
    if (text.indexOf(":") >= 0) {
      text.split(":").forEach(function (part) { seconds = seconds * 60 + (parseFloat(part) || 0); });
      return seconds;
    }
    var units = { h: 3600, m: 60, s: 1 };
    text.replace(/([0-9.]+)([hms])/g, function (_, n, u) { seconds += parseFloat(n) * units[u]; });
    return seconds;
  }
  function fromHash() {
    var seconds = hashSeconds();
    if (seconds === null) { return; }
    var go = function () { seek(seconds, true); highlight(); };
    if (video.readyState >= 1) { go(); } else { video.addEventListener("loadedmetadata", go, { once: true }); }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
