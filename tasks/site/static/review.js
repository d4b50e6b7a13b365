// The review editor (`confcast review`): the cues beside the video, the words Whisper was unsure of marked,
// keyboard control, and Save, which posts the cues to the local server that validates and republishes them.
// Cue text only ever enters the page as text (text nodes, textContent), never as HTML.
(function () {
  "use strict";
  var video = document.getElementById("player");
  var overlay = document.getElementById("overlay");
  var list = document.getElementById("cues");
  var saveButton = document.getElementById("save");
  var statusLine = document.getElementById("status");
  var changesLabel = document.getElementById("changes");
  var summary = document.getElementById("summary");
  var trackStatus = document.getElementById("track-status");
  var LETTER = /[\p{L}\p{N}]/u;

  var cues = []; // {start, end, text, speaker, words, item, time, speakerInput, box, changed}
  var threshold = 0.5;
  var current = null; // the cue being played or edited
  var stopAt = null; // playing a window (a cue, a word): pause at this time
  var saving = false;
  var speakerList = null;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = kind || "";
  }

  function clock(seconds) {
    var tenths = Math.floor(Math.max(0, seconds) * 10 + 1e-6);
    var s = Math.floor(tenths / 10), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    var sec = (s % 60 < 10 ? "0" : "") + (s % 60) + "." + (tenths % 10);
    return (h ? h + ":" + (m < 10 ? "0" : "") + m : String(m)) + ":" + sec;
  }

  // --- cue text in the page ------------------------------------------------------------------------------------

  // A cue box's text and the caret's offset in it (-1 when the caret is elsewhere). A line break counts as "\n"
  // whether the browser typed it as a character, a <br> or a new <div>.
  function readBox(box) {
    var text = "", caret = -1, selection = window.getSelection();
    var node = selection.rangeCount ? selection.focusNode : null, offset = selection.focusOffset;
    function walk(at) {
      if (at.nodeType === 3) {
        if (at === node) { caret = text.length + offset; }
        text += at.data;
        return;
      }
      if (at.nodeName === "BR") { text += "\n"; return; }
      if (at !== box && (at.nodeName === "DIV" || at.nodeName === "P") && text && text.slice(-1) !== "\n") {
        text += "\n";
      }
      for (var i = 0; i < at.childNodes.length; i++) {
        if (at === node && i === offset) { caret = text.length; }
        walk(at.childNodes[i]);
      }
      if (at === node && offset >= at.childNodes.length) { caret = text.length; }
    }
    walk(box);
    text = text.replace(/\u00a0/g, " ");
    var trimmed = text.replace(/\n+$/, "");
    return { text: trimmed, caret: Math.min(caret, trimmed.length) };
  }

  // Where `word` stands in `text` from `from` on, as a whole word: without the punctuation Whisper attached to it
  // (typing over a selected word keeps the full stop), else as Whisper wrote it.
  function locate(text, word, from) {
    var bare = word.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
    var forms = bare && bare !== word ? [bare, word] : [word];
    for (var f = 0; f < forms.length; f++) {
      var form = forms[f], i = text.indexOf(form, from);
      while (i >= 0) {
        var before = i > 0 ? text.charAt(i - 1) : "", after = text.charAt(i + form.length);
        if (!(before && LETTER.test(before) && LETTER.test(form.charAt(0))) &&
            !(after && LETTER.test(after) && LETTER.test(form.charAt(form.length - 1)))) {
          return { start: i, end: i + form.length };
        }
        i = text.indexOf(form, i + 1);
      }
    }
    return null;
  }

  // The cue's text in its box, the doubtful words it still holds in <mark> elements (found in order, as words).
  function fill(cue) {
    var box = cue.box, text = cue.text, at = 0;
    box.textContent = "";
    cue.words.forEach(function (word) {
      var found = word.text ? locate(text, word.text, at) : null;
      if (!found) { return; } // edited away, or not in this cue's text any more
      if (word.probability < threshold) {
        if (found.start > at) { box.appendChild(document.createTextNode(text.slice(at, found.start))); }
        var mark = document.createElement("mark");
        mark.className = "doubt";
        mark.textContent = text.slice(found.start, found.end);
        mark.title = "Whisper was " + Math.round(word.probability * 100) + " % sure of this word";
        mark.setAttribute("data-start", String(word.start));
        mark.setAttribute("data-end", String(word.end));
        mark.setAttribute("data-heard", mark.textContent);
        box.appendChild(mark);
      } else {
        box.appendChild(document.createTextNode(text.slice(at, found.end)));
      }
      at = found.end;
    });
    if (at < text.length) { box.appendChild(document.createTextNode(text.slice(at))); }
  }

  function placeCaret(box, offset) {
    var walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT), node, left = offset;
    var range = document.createRange();
    range.setStart(box, box.childNodes.length);
    while ((node = walker.nextNode())) {
      if (left <= node.data.length) { range.setStart(node, left); break; }
      left -= node.data.length;
    }
    range.collapse(true);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- the list ------------------------------------------------------------------------------------------------

  function build(cue) {
    var item = document.createElement("li");
    item.className = "cue";
    var time = document.createElement("button");
    time.type = "button";
    time.className = "time";
    var speaker = document.createElement("input");
    speaker.type = "text";
    speaker.className = "speaker";
    speaker.placeholder = "speaker";
    speaker.value = cue.speaker;
    speaker.setAttribute("list", "speakers");
    speaker.maxLength = 100;
    var box = document.createElement("div");
    box.className = "text";
    box.contentEditable = "plaintext-only";
    if (box.contentEditable !== "plaintext-only") { box.contentEditable = "true"; }
    box.spellcheck = true;
    box.setAttribute("role", "textbox");
    box.setAttribute("aria-multiline", "true");
    item.appendChild(time);
    item.appendChild(speaker);
    item.appendChild(box);
    cue.item = item;
    cue.time = time;
    cue.speakerInput = speaker;
    cue.box = box;

    time.addEventListener("click", function () { select(cue); playWindow(cue.start, null); });
    item.addEventListener("focusin", function () {
      if (current !== cue) {
        select(cue);
        seek(cue.start);
      }
    });
    box.addEventListener("input", function () {
      cue.text = readBox(box).text;
      // A doubtful word the reviewer rewrote is done: no longer marked, no longer a stop of Alt+N.
      Array.prototype.forEach.call(box.querySelectorAll("mark.doubt"), function (mark) {
        if (mark.textContent !== mark.getAttribute("data-heard")) { mark.className = "fixed"; }
      });
      touched(cue);
      countDoubts();
    });
    speaker.addEventListener("input", function () {
      cue.speaker = speaker.value;
      touched(cue);
    });
    speaker.addEventListener("change", knownSpeakers);
    speaker.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        box.focus();
        placeCaret(box, cue.text.length);
      }
    });
    fill(cue);
    return item;
  }

  function label(cue, index) {
    cue.time.textContent = clock(cue.start);
    cue.time.setAttribute("aria-label", "Play cue " + (index + 1) + " from " + clock(cue.start));
    cue.speakerInput.setAttribute("aria-label", "Speaker of cue " + (index + 1));
    cue.box.setAttribute("aria-label", "Text of cue " + (index + 1));
  }

  function relabel() {
    cues.forEach(label);
    countDoubts();
  }

  function countDoubts() {
    var doubts = list.querySelectorAll("mark.doubt").length;
    summary.textContent = "(" + cues.length + ", " + doubts + " doubtful word" + (doubts === 1 ? "" : "s") + ")";
  }

  function touched(cue) {
    cue.changed = true;
    cue.item.classList.add("changed");
    countChanges();
    showOverlay();
  }

  function countChanges() {
    var count = cues.filter(function (c) { return c.changed; }).length;
    changesLabel.textContent = count ? count + " cue" + (count === 1 ? "" : "s") + " changed, not saved" : "";
  }

  function knownSpeakers() {
    var names = {};
    cues.forEach(function (cue) { if (cue.speaker.trim()) { names[cue.speaker.trim()] = true; } });
    (window.reviewSpeakers || []).forEach(function (name) { names[name] = true; });
    speakerList.textContent = "";
    Object.keys(names).sort().forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      speakerList.appendChild(option);
    });
  }

  // --- playback ------------------------------------------------------------------------------------------------

  function cueAt(seconds) {
    var low = 0, high = cues.length - 1, found = null;
    while (low <= high) {
      var mid = (low + high) >> 1;
      if (cues[mid].start <= seconds + 0.01) { found = cues[mid]; low = mid + 1; } else { high = mid - 1; }
    }
    return found;
  }

  function select(cue) {
    if (current === cue) { return; }
    if (current && current.item) { current.item.classList.remove("current"); }
    current = cue;
    if (!cue) { return; }
    cue.item.classList.add("current");
    if (!list.contains(document.activeElement)) {
      var top = cue.item.offsetTop - list.offsetTop;
      if (top < list.scrollTop || top + cue.item.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = Math.max(0, top - list.clientHeight / 3);
      }
    }
  }

  function showOverlay() {
    var cue = cueAt(video.currentTime);
    overlay.textContent = cue && video.currentTime < cue.end ? cue.text : "";
  }

  function seek(seconds) {
    stopAt = null;
    video.currentTime = Math.max(0, seconds);
  }

  function playWindow(from, to) {
    seek(from);
    stopAt = to;
    var started = video.play();
    if (started && started.catch) { started.catch(function () {}); }
  }

  function togglePlay() {
    stopAt = null;
    if (video.paused) { playWindow(video.currentTime, null); } else { video.pause(); }
  }

  video.addEventListener("timeupdate", function () {
    if (stopAt !== null && video.currentTime >= stopAt) {
      stopAt = null;
      video.pause();
    }
    if (!list.contains(document.activeElement)) { select(cueAt(video.currentTime)); }
    showOverlay();
  });
  video.addEventListener("seeked", showOverlay);

  // --- editing commands ----------------------------------------------------------------------------------------

  function focusedCue() {
    for (var i = 0; i < cues.length; i++) {
      if (cues[i].item.contains(document.activeElement)) { return cues[i]; }
    }
    return null;
  }

  function replayCue() {
    var cue = focusedCue() || current || cueAt(video.currentTime);
    if (cue) { playWindow(cue.start, cue.end); }
  }

  function nextDoubt(backwards) {
    var marks = Array.prototype.slice.call(list.querySelectorAll("mark.doubt"));
    if (!marks.length) { say("No doubtful word left in the cues."); return; }
    var selection = window.getSelection(), chosen = null;
    var range = selection.rangeCount && list.contains(selection.anchorNode) ? selection.getRangeAt(0) : null;
    var now = video.currentTime;
    var after = function (mark) {
      return range ? range.comparePoint(mark, 0) > 0 : parseFloat(mark.getAttribute("data-start")) >= now - 0.05;
    };
    var before = function (mark) {
      return range ? range.comparePoint(mark, 0) < 0 : parseFloat(mark.getAttribute("data-start")) < now - 0.05;
    };
    if (backwards) {
      var earlier = marks.filter(before);
      chosen = earlier.length ? earlier[earlier.length - 1] : null;
    } else {
      chosen = marks.filter(after)[0] || null;
    }
    if (!chosen) {
      chosen = backwards ? marks[marks.length - 1] : marks[0];
      say(backwards ? "Back to the last doubtful word." : "Back to the first doubtful word.");
    } else {
      say("");
    }
    var cue = cues.filter(function (c) { return c.box.contains(chosen); })[0];
    cue.box.focus();
    var word = document.createRange();
    word.selectNodeContents(chosen);
    selection.removeAllRanges();
    selection.addRange(word);
    var start = parseFloat(chosen.getAttribute("data-start")), end = parseFloat(chosen.getAttribute("data-end"));
    playWindow(Math.max(cue.start, start - 0.6), end + 0.6);
  }

  // Where the second half of a split cue starts: before the word at the caret when the words Whisper heard still
  // match the text, else in proportion to the characters on each side.
  function splitTime(cue, before, after) {
    var count = function (text) { return text.split(/\s+/).filter(Boolean).length; };
    var n = count(before), at;
    if (cue.words.length === n + count(after) && n < cue.words.length) {
      at = cue.words[n].start;
    } else {
      at = cue.start + (cue.end - cue.start) * before.length / (before.length + after.length);
    }
    return Math.round(Math.min(Math.max(at, cue.start + 0.001), cue.end - 0.001) * 1000) / 1000;
  }

  function splitCue() {
    var cue = focusedCue();
    var read = cue && cue.box.contains(document.activeElement) ? readBox(cue.box) : null;
    var before = read && read.caret >= 0 ? read.text.slice(0, read.caret).replace(/\s+$/, "") : "";
    var after = read && read.caret >= 0 ? read.text.slice(read.caret).replace(/^\s+/, "") : "";
    if (!before || !after) { say("Put the caret between two words of a cue's text to split it there.", "error"); return; }
    if (cue.end - cue.start < 0.004) { say("This cue is too short to split.", "error"); return; }
    var at = splitTime(cue, before, after);
    var middle = function (word) { return (word.start + word.end) / 2; };
    var second = {
      start: at, end: cue.end, text: after, speaker: cue.speaker,
      words: cue.words.filter(function (word) { return middle(word) >= at; }),
    };
    cue.words = cue.words.filter(function (word) { return middle(word) < at; });
    cue.end = at;
    cue.text = before;
    fill(cue);
    cues.splice(cues.indexOf(cue) + 1, 0, second);
    list.insertBefore(build(second), cue.item.nextSibling);
    touched(cue);
    touched(second);
    relabel();
    second.box.focus();
    placeCaret(second.box, 0);
    say("Split: the second part starts at " + clock(at) + ".");
  }

  function mergeCue() {
    var cue = focusedCue() || current;
    var index = cue ? cues.indexOf(cue) : -1;
    if (index < 0 || index + 1 >= cues.length) { say("No next cue to merge this one with.", "error"); return; }
    var next = cues[index + 1];
    var a = cue.speaker.trim(), b = next.speaker.trim();
    if (a && b && a !== b) {
      say("These cues have different speakers (" + a + ", " + b + "): give them the same one first.", "error");
      return;
    }
    var joint = cue.text.indexOf("\n") < 0 && next.text.indexOf("\n") < 0 ? "\n" : " ";
    var caret = cue.text.length;
    cue.text = cue.text && next.text ? cue.text + joint + next.text : cue.text + next.text;
    cue.end = next.end;
    cue.speaker = a || b;
    cue.speakerInput.value = cue.speaker;
    cue.words = cue.words.concat(next.words);
    cues.splice(index + 1, 1);
    next.item.remove();
    if (current === next) { current = null; }
    fill(cue);
    touched(cue);
    relabel();
    cue.box.focus();
    placeCaret(cue.box, caret);
    say("Merged: the cue now ends at " + clock(cue.end) + ".");
  }

  function editSpeaker() {
    var cue = focusedCue() || current;
    if (!cue) { return; }
    cue.speakerInput.focus();
    cue.speakerInput.select();
  }

  function moveCue(step) {
    var cue = focusedCue() || current;
    var index = cue ? cues.indexOf(cue) + step : 0;
    if (index < 0 || index >= cues.length) { return; }
    cues[index].box.focus();
    placeCaret(cues[index].box, 0);
  }

  // --- saving --------------------------------------------------------------------------------------------------

  function showPublished(url) {
    statusLine.textContent = "Published, marked reviewed: ";
    statusLine.className = "done";
    var link = document.createElement("a");
    link.textContent = url;
    if (/^(https?|file):/i.test(url)) {
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    statusLine.appendChild(link);
  }

  function save() {
    if (saving || !cues.length) { return; }
    saving = true;
    saveButton.disabled = true;
    say("Saving and publishing…");
    var sent = cues.slice();
    var body = JSON.stringify({
      cues: sent.map(function (c) { return { start: c.start, end: c.end, text: c.text, speaker: c.speaker }; }),
    });
    fetch("save", { method: "POST", headers: { "Content-Type": "application/json" }, body: body, cache: "no-store" })
      .then(function (response) {
        return response.json().then(
          function (answer) { return { ok: response.ok, answer: answer }; },
          function () { return { ok: false, answer: { error: "the editor's server answered " + response.status } }; });
      })
      .then(function (result) {
        if (!result.ok) {
          say(String(result.answer.error || "the captions were not saved"), "error");
          return;
        }
        sent.forEach(function (cue) {
          cue.changed = false;
          cue.item.classList.remove("changed");
          if (!cue.text.trim()) { // emptied: the server dropped it
            cues.splice(cues.indexOf(cue), 1);
            cue.item.remove();
          }
        });
        countChanges();
        relabel();
        trackStatus.textContent = "reviewed";
        trackStatus.className = "badge reviewed";
        showPublished(String(result.answer.page_url));
      })
      .catch(function (error) {
        say("The editor's server cannot be reached (" + error.message + "): is `confcast review` still running?",
            "error");
      })
      .then(function () {
        saving = false;
        saveButton.disabled = false;
      });
  }

  saveButton.addEventListener("click", save);
  window.addEventListener("beforeunload", function (event) {
    if (cues.some(function (cue) { return cue.changed; })) { event.preventDefault(); event.returnValue = ""; }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      togglePlay();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.code === "KeyS") {
      event.preventDefault();
      save();
      return;
    }
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    var commands = {
      KeyR: replayCue,
      KeyN: function () { nextDoubt(event.shiftKey); },
      Enter: splitCue,
      NumpadEnter: splitCue,
      KeyM: mergeCue,
      KeyP: editSpeaker,
      ArrowUp: function () { moveCue(-1); },
      ArrowDown: function () { moveCue(1); },
    };
    var command = commands[event.code]; // the key's place, not its character: Alt+N types "~" on some layouts
    if (!command || !cues.length) { return; }
    event.preventDefault();
    command();
  }, true);

  // --- start ---------------------------------------------------------------------------------------------------

  say("Loading the cues…");
  fetch("data.json", { cache: "no-store" })
    .then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "the editor's server answered " + response.status); }
        return data;
      });
    })
    .then(function (data) {
      threshold = data.doubt_below;
      window.reviewSpeakers = data.speakers;
      speakerList = document.createElement("datalist");
      speakerList.id = "speakers";
      document.body.appendChild(speakerList);
      if (data.video.poster) { video.poster = data.video.poster; }
      video.src = data.video.src;
      cues = data.cues.map(function (c) {
        return { start: c.start, end: c.end, text: c.text, speaker: c.speaker, words: c.words, changed: false };
      });
      cues.forEach(function (cue) { list.appendChild(build(cue)); });
      relabel();
      knownSpeakers();
      saveButton.disabled = false;
      say("");
    })
    .catch(function (error) { say("The cues could not be loaded: " + error.message, "error"); });
})();
