// The catalog's search inside every talk. Data built at publish time by tasks/search.py:
// search/index.json -> one shard per word typed -> the chunks of passages where every word occurs.
// Transcript text only ever becomes DOM text nodes, never HTML.
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form || !window.fetch) { return; }
  var input = document.getElementById("search-input");
  var status = document.getElementById("search-status");
  var results = document.getElementById("search-results");
  var t = JSON.parse(document.getElementById("search-strings").textContent);
  var MIN_TERM = 2, SHARD = 2, MAX_TALKS = 10, MAX_PASSAGES = 5, SNIPPET = 220;
  var LIGATURES = { "\u0153": "oe", "\u00e6": "ae", "\u00df": "ss", "\ufb01": "fi", "\ufb02": "fl" };
  var cache = {};

  // Must agree with tasks/search.py `fold`: lower case, ligatures spelt out, accents dropped.
  function fold(ch) {
    var lowered = ch.toLowerCase().replace(/[\u0153\u00e6\u00df\ufb01\ufb02]/g, function (c) { return LIGATURES[c]; });
    return lowered.normalize("NFD").replace(/\p{M}/gu, "");
  }
  // The folded text and, for each of its positions, the position in the original text.
  function folded(text) {
    var out = "", map = [], at = 0;
    for (var ch of text) {
      var f = fold(ch);
      for (var k = 0; k < f.length; k++) { map.push(at); }
      out += f;
      at += ch.length;
    }
    map.push(at);
    return { text: out, map: map };
  }
  function termsOf(query) {
    var words = folded(query).text.match(/[\p{L}\p{N}]+/gu) || [];
    return words.filter(function (w, i) { return w.length >= MIN_TERM && words.indexOf(w) === i; });
  }
  function shardOf(term) {
    var head = term.slice(0, SHARD);
    return /^[a-z0-9]+$/.test(head) && head.length === SHARD ? head : "_";
  }
  function getJSON(url) {
    if (!cache[url]) {
      cache[url] = fetch(url).then(function (r) {
        if (!r.ok) { throw new Error(url + ": " + r.status); }
        return r.json();
      });
      cache[url].catch(function () { delete cache[url]; });
    }
    return cache[url];
  }
  // Chunk masks have up to 52 bits: JavaScript's bitwise operators take 32, so work on two halves.
  var HALF = 67108864; // 2 ** 26
  function combine(a, b, both) {
    var low = both ? (a % HALF) & (b % HALF) : (a % HALF) | (b % HALF);
    var high = both ? Math.floor(a / HALF) & Math.floor(b / HALF) : Math.floor(a / HALF) | Math.floor(b / HALF);
    return high * HALF + low;
  }
  function chunksOf(mask) {
    var list = [];
    for (var n = 0; mask > 0; n++, mask = Math.floor(mask / 2)) { if (mask % 2) { list.push(n); } }
    return list;
  }
  function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function clock(seconds) {
    var s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }
  function fragment(seconds) {
    var s = Math.floor(seconds), m = Math.floor(s / 60), r = s % 60;
    return m ? m + "m" + (r < 10 ? "0" : "") + r + "s" : r + "s";
  }
  function element(name, text, className) {
    var node = document.createElement(name);
    if (text !== undefined) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  // The ranges [start, end) of the original text where each term starts a word; null if a term is missing.
  function matches(text, patterns) {
    var f = folded(text), ranges = [];
    for (var i = 0; i < patterns.length; i++) {
      var found = false, m;
      patterns[i].lastIndex = 0;
      while ((m = patterns[i].exec(f.text)) !== null) {
        var start = m.index + m[1].length, end = m.index + m[0].length;
        ranges.push([f.map[start], f.map[end]]);
        found = true;
      }
      if (!found) { return null; }
    }
    return ranges.sort(function (a, b) { return a[0] - b[0]; });
  }
  // A snippet of the passage around its first match, with <mark> around every match (text nodes only).
  function snippet(text, ranges) {
    var from = 0, to = text.length;
    if (text.length > SNIPPET) {
      from = Math.max(0, ranges[0][0] - SNIPPET / 3);
      to = Math.min(text.length, from + SNIPPET);
      while (from > 0 && text[from - 1] !== " ") { from--; }
      while (to < text.length && text[to] !== " ") { to++; }
    }
    var span = element("span"), at = from;
    if (from > 0) { span.appendChild(document.createTextNode("\u2026 ")); }
    ranges.forEach(function (range) {
      var start = Math.max(range[0], at), end = Math.min(range[1], to);
      if (end <= start) { return; }
      span.appendChild(document.createTextNode(text.slice(at, start)));
      span.appendChild(element("mark", text.slice(start, end)));
      at = end;
    });
    span.appendChild(document.createTextNode(text.slice(at, to)));
    if (to < text.length) { span.appendChild(document.createTextNode(" \u2026")); }
    return span;
  }
  function say(text) { status.textContent = text; }
  function plural(n, one, many) { return (n === 1 ? one : many).replace("{n}", n); }

  var generation = 0;
  function search(query) {
    var mine = ++generation, terms = termsOf(query);
    results.textContent = "";
    if (!terms.length) { say(query.trim() ? t.too_short : ""); return Promise.resolve(); }
    say(t.searching);
    var patterns = terms.map(function (term) { return new RegExp("(^|[^\\p{L}\\p{N}])" + escapeRegExp(term), "gu"); });
    // A talk's passages that hold every term, reading its chunks in order until there are enough.
    function passagesOf(talk, chunks) {
      var found = [];
      function next(i) {
        if (i >= chunks.length || found.length > MAX_PASSAGES) {
          return Promise.resolve({ passages: found, more: i < chunks.length || found.length > MAX_PASSAGES });
        }
        return getJSON(talk.passages + "/" + chunks[i] + ".json").then(function (file) {
          file.p.forEach(function (p) {
            var ranges = matches(p[1], patterns);
            if (ranges) { found.push([p[0], p[1], ranges, file.lang]); }
          });
          return next(i + 1);
        });
      }
      return next(0);
    }
    return getJSON("search/index.json").then(function (index) {
      return Promise.all(terms.map(function (term) {
        var shard = index.shards[shardOf(term)];
        return shard ? getJSON(shard) : Promise.resolve({});
      })).then(function (shards) {
        // Talks (and their chunks) where every term starts a spoken word, in catalog order (newest first).
        var hits = null;
        terms.forEach(function (term, i) {
          var talks = {};
          Object.keys(shards[i]).forEach(function (word) {
            if (word.lastIndexOf(term, 0) !== 0) { return; }
            var postings = shards[i][word];
            for (var k = 0; k + 1 < postings.length; k += 2) {
              talks[postings[k]] = combine(talks[postings[k]] || 0, postings[k + 1], false);
            }
          });
          if (hits === null) { hits = talks; return; }
          var both = {};
          Object.keys(hits).forEach(function (n) {
            var mask = talks[n] ? combine(hits[n], talks[n], true) : 0;
            if (mask) { both[n] = mask; }
          });
          hits = both;
        });
        var numbers = Object.keys(hits).map(Number).sort(function (a, b) { return a - b; });
        return Promise.all(numbers.slice(0, MAX_TALKS).map(function (n) {
          return passagesOf(index.conferences[n], chunksOf(hits[n]));
        })).then(function (found) { return { index: index, numbers: numbers, found: found }; });
      });
    }).then(function (result) {
      if (mine !== generation) { return; }
      var total = 0, talks = 0;
      result.found.forEach(function (found, i) {
        var talk = result.index.conferences[result.numbers[i]], passages = found.passages;
        if (!passages.length) { return; }
        talks++;
        total += Math.min(passages.length, MAX_PASSAGES);
        var item = element("li", undefined, "talk-hits");
        var heading = element("h3");
        var link = element("a", talk.title);
        link.href = talk.page;
        heading.lang = talk.lang;
        heading.appendChild(link);
        item.appendChild(heading);
        var list = element("ol");
        list.lang = passages[0][3];
        passages.slice(0, MAX_PASSAGES).forEach(function (p) {
          var row = element("li"), a = element("a");
          a.href = talk.page + "#t=" + fragment(p[0]);
          a.appendChild(element("time", clock(p[0])));
          a.appendChild(snippet(p[1], p[2]));
          row.appendChild(a);
          list.appendChild(row);
        });
        item.appendChild(list);
        if (found.more) { item.appendChild(element("p", t.more, "more")); }
        results.appendChild(item);
      });
      var found = result;
      var others = found.numbers.slice(MAX_TALKS);
      if (others.length) {
        var rest = element("li", undefined, "talk-hits");
        rest.appendChild(element("p", t.other_talks));
        var more = element("ul");
        others.forEach(function (n) {
          var talk = found.index.conferences[n], row = element("li"), a = element("a", talk.title);
          a.href = talk.page;
          row.appendChild(a);
          more.appendChild(row);
        });
        rest.appendChild(more);
        results.appendChild(rest);
      }
      say(total ? plural(total, t.found_one, t.found_many).replace("{talks}", talks + others.length) : t.none);
    }).catch(function () {
      if (mine === generation) { say(t.failed); }
    });
  }

  var timer = null;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    history.replaceState(null, "", "?q=" + encodeURIComponent(input.value) + location.hash);
    search(input.value);
  });
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(input.value); }, 350);
  });
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { input.value = initial; search(initial); }
  window.confcastSearch = { fold: function (text) { return folded(text).text; }, search: search };
})();
