// The catalog's search, on Pagefind's index (built at publish time by tasks/site/search.py and pagefind_index.py):
// search/bundles.json names one bundle per language; search/pagefind.js searches each (its own stemmer). Nothing is
// fetched until someone searches. Pagefind finds documents: a talk (title, speakers, description, slides) or ten
// minutes of its speech; they are shown grouped by talk (meta `page`), each with its matching moments, each a link
// to page#t=....
// Text from the index only ever becomes DOM text nodes: a moment shows its cue's text, and the words Pagefind's
// excerpt marked are wrapped in <mark> elements made here.
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form || !window.fetch) { return; }
  var input = document.getElementById("search-input");
  var status = document.getElementById("search-status");
  var results = document.getElementById("search-results");
  var filterBox = document.getElementById("search-filters");
  var selects = {
    lang: document.getElementById("search-lang"),
    speaker: document.getElementById("search-speaker"),
    year: document.getElementById("search-year"),
  };
  var t = JSON.parse(document.getElementById("search-strings").textContent);
  var MAX_DOCUMENTS = 10, MAX_MOMENTS = 5;
  var here = new URL(".", location.href);
  var loading = null;

  function element(name, text, className) {
    var node = document.createElement(name);
    if (text !== undefined) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }
  function option(select, value, label) {
    var o = element("option", label);
    o.value = value;
    select.appendChild(o);
  }
  function clock(seconds) {
    var s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }
  function fragment(seconds) {
    var s = Math.floor(seconds), m = Math.floor(s / 60), r = s % 60;
    return m ? m + "m" + (r < 10 ? "0" : "") + r + "s" : r + "s";
  }
  var ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#39;": "'", "&#x27;": "'" };
  function decode(text) {
    return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, function (e) { return ENTITIES[e]; });
  }
  function fold(text) { return text.toLowerCase().normalize("NFD").replace(/\p{M}/gu, ""); }
  // The words Pagefind marked in its excerpt (<mark>word</mark>), folded: only read, never parsed as HTML.
  function markedWords(excerpt) {
    var words = {};
    (excerpt || "").replace(/<mark>([\s\S]*?)<\/mark>/g, function (_, inside) {
      (fold(decode(inside)).match(/[\p{L}\p{N}]+/gu) || []).forEach(function (w) { words[w] = true; });
      return "";
    });
    return words;
  }
  // The moment's whole text (the cue, as published), its marked words in <mark>: text nodes and <mark> only.
  function highlighted(text, words) {
    var span = element("span");
    text.split(/([\p{L}\p{N}]+)/u).forEach(function (part, i) {
      if (!part) { return; }
      span.appendChild(i % 2 && words[fold(part)] ? element("mark", part) : document.createTextNode(part));
    });
    return span;
  }
  function say(text) { status.textContent = text; }
  function plural(n, one, many) { return (n === 1 ? one : many).replace("{n}", n); }

  // The bundles, loaded once, on the first search: [{lang, pagefind}], and the filters' choices.
  function load() {
    if (!loading) {
      loading = fetch(new URL("search/bundles.json", here), { cache: "no-cache" }).then(function (r) {
        if (!r.ok) { throw new Error("search/bundles.json: " + r.status); }
        return r.json();
      }).then(function (bundles) {
        return import(new URL("search/pagefind.js", here).href).then(function (pagefind) {
          return Promise.all(Object.keys(bundles.languages).map(function (lang) {
            var instance = pagefind.createInstance({
              basePath: new URL("search/" + bundles.languages[lang], here).pathname, noWorker: true,
            });
            return instance.options({ baseUrl: here.pathname, excerptLength: 24 }).then(function () {
              return instance.filters();
            }).then(function (filters) { return { lang: lang, pagefind: instance, filters: filters }; });
          }));
        });
      }).then(function (bundles) {
        fillFilters(bundles);
        return bundles;
      });
      loading.catch(function () { loading = null; });
    }
    return loading;
  }
  function fillFilters(bundles) {
    var names = {}, years = {};
    bundles.forEach(function (b) {
      Object.keys(b.filters.speaker || {}).forEach(function (n) { names[n] = true; });
      Object.keys(b.filters.year || {}).forEach(function (y) { years[y] = true; });
      option(selects.lang, b.lang, t.languages[b.lang] || b.lang);
    });
    Object.keys(names).sort().forEach(function (n) { option(selects.speaker, n, n); });
    Object.keys(years).sort().reverse().forEach(function (y) { option(selects.year, y, y); });
    filterBox.hidden = false;
  }
  function chosenFilters() {
    var filters = {};
    if (selects.speaker.value) { filters.speaker = selects.speaker.value; }
    if (selects.year.value) { filters.year = selects.year.value; }
    return filters;
  }
  function moment(sub) {
    var m = /^t=([0-9.]+)$/.exec(sub.anchor ? sub.anchor.id : "");
    return m ? parseFloat(m[1]) : null;
  }

  var generation = 0;
  function search(query) {
    var mine = ++generation;
    results.textContent = "";
    if (!query.trim()) { say(""); return Promise.resolve(); }
    say(t.searching);
    return load().then(function (bundles) {
      var chosen = bundles.filter(function (b) { return !selects.lang.value || b.lang === selects.lang.value; });
      return Promise.all(chosen.map(function (b) {
        return b.pagefind.search(query, { filters: chosenFilters() }).then(function (found) {
          return found.results.map(function (r) { return { lang: b.lang, result: r }; });
        });
      }));
    }).then(function (lists) {
      // The best results of every language, best first; a talk found in two languages is one talk.
      var all = [].concat.apply([], lists).sort(function (a, b) { return b.result.score - a.result.score; });
      return Promise.all(all.slice(0, MAX_DOCUMENTS).map(function (hit) {
        return hit.result.data().then(function (data) { return { lang: hit.lang, data: data }; });
      })).then(function (top) { return { top: top, total: all.length }; });
    }).then(function (found) {
      if (mine !== generation) { return; }
      var talks = [], byUrl = {};
      found.top.forEach(function (hit) {
        var page = new URL(hit.data.meta.page || hit.data.url, here).pathname, talk = byUrl[page];
        if (!talk) {
          talk = byUrl[page] = { page: page, data: hit.data, moments: [] };
          talks.push(talk);
        }
        hit.data.sub_results.forEach(function (sub) {
          var at = moment(sub);
          if (at !== null) { talk.moments.push({ at: at, sub: sub, lang: hit.lang }); }
        });
      });
      var shown = 0;
      talks.forEach(function (talk) {
        var item = element("li", undefined, "talk-hits");
        var heading = element("h3");
        var link = element("a", talk.data.meta.title || talk.page);
        link.href = talk.page;
        heading.appendChild(link);
        item.appendChild(heading);
        var speakers = (talk.data.filters && talk.data.filters.speaker) || [];
        var line = [talk.data.meta.date || ""].concat(speakers).filter(Boolean).join(" \u00b7 ");
        if (line) { item.appendChild(element("p", line, "meta")); }
        if (talk.moments.length) {
          var list = element("ol");
          talk.moments.slice(0, MAX_MOMENTS).sort(function (a, b) { return a.at - b.at; }).forEach(function (m) {
            var row = element("li"), a = element("a");
            a.href = talk.page + "#t=" + fragment(m.at);
            a.lang = m.lang;
            a.appendChild(element("time", clock(m.at)));
            a.appendChild(highlighted(m.sub.title, markedWords(m.sub.excerpt)));
            row.appendChild(a);
            list.appendChild(row);
            shown++;
          });
          item.appendChild(list);
          if (talk.moments.length > MAX_MOMENTS) { item.appendChild(element("p", t.more, "more")); }
        }
        results.appendChild(item);
      });
      if (!found.total) { say(t.none); return; }
      var status = plural(talks.length, t.found_one, t.found_many).replace("{moments}", shown);
      say(found.total > MAX_DOCUMENTS ? status + " " + t.more_results : status);
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
  Object.keys(selects).forEach(function (name) {
    selects[name].addEventListener("change", function () { search(input.value); });
  });
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { input.value = initial; search(initial); }
  window.confcastSearch = { search: search };
})();
