
/*
 * Copyright (C) The tier router authors
 *
 * The status page for a browser.  The client prefers HTML when its
 * Accept header gives text/html a higher q-value than application/json
 * (a browser's navigation does; curl, asking for anything, and scrapers
 * do not).  The page is one document with no external asset: the status
 * JSON inside it, in a data block, and an inline script that renders it
 * (text into the DOM as text only, never as markup) and fetches it again
 * from the same location with format=json every 5 seconds.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_status_html.h"
#include "ngx_http_tier_router_util.h"


#define NGX_HTTP_TIER_ROUTER_ACCEPT_RANGES  32   /* read, at most */

#define NGX_HTTP_TIER_ROUTER_ACCEPT_HTML    0
#define NGX_HTTP_TIER_ROUTER_ACCEPT_JSON    1


/* of each media type: its most specific match so far, and its q-value */

typedef struct {
    ngx_uint_t  ranges;
    ngx_uint_t  spec[2];         /* 0: none, 1: any type, 2: any subtype
                                    of the type, 3: the type itself */
    ngx_int_t   q[2];            /* in thousandths */
} ngx_http_tier_router_accept_t;


static void ngx_http_tier_router_status_html_ranges(u_char *p,
    u_char *last, ngx_http_tier_router_accept_t *a);
static ngx_int_t ngx_http_tier_router_status_html_params(u_char *p,
    u_char *last);
static ngx_int_t ngx_http_tier_router_status_html_qvalue(u_char *p,
    u_char *last);
static void ngx_http_tier_router_status_html_match(
    ngx_http_tier_router_accept_t *a, ngx_str_t *type, ngx_str_t *subtype,
    ngx_int_t q);
static u_char *ngx_http_tier_router_status_html_token(u_char *p,
    u_char *last);
static u_char *ngx_http_tier_router_status_html_ows(u_char *p,
    u_char *last);
static u_char *ngx_http_tier_router_status_html_quoted(u_char *p,
    u_char *last);


/*
 * The page: what comes before the JSON, and after it.  The policy below
 * allows the inline style and script by their SHA-256 hashes, nothing
 * else but fetching from this origin: t/status_html.t checks the hashes
 * against the page, and prints the new ones when either is changed.
 */

static u_char  ngx_http_tier_router_status_html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>tier router status</title>\n"
    "<style>\n"
    "body{font:13px/1.45 system-ui,sans-serif;color:#222;background:#fff;\n"
    "margin:12px 20px}\n"
    "h1{font-size:17px;margin:0}\n"
    "h2{font-size:14px;margin:16px 0 4px}\n"
    "p{margin:4px 0}\n"
    "table{border-collapse:collapse}\n"
    "th,td{padding:2px 7px;text-align:right;white-space:nowrap}\n"
    "th{font-weight:600;border-bottom:1px solid #999}\n"
    "th:first-child,td:first-child{text-align:left;padding-left:2px}\n"
    "tbody tr:nth-child(even){background:#f3f3f3}\n"
    ".muted{color:#666}\n"
    ".warn{color:#a10000;font-weight:600}\n"
    ".fig{margin-right:14px}\n"
    ".hash{font-family:monospace}\n"
    ".bar{display:inline-block;position:relative;width:100px;height:10px;\n"
    "background:#ddd;vertical-align:middle;margin-right:5px}\n"
    ".bar span{position:absolute;top:0;bottom:0;left:0}\n"
    ".ok{background:#2f9e44}\n"
    ".near{background:#f59f00}\n"
    ".over{background:#e03131}\n"
    ".share{background:#4263eb}\n"
    ".bar .mark{width:2px;margin-left:-1px;top:-2px;bottom:-2px;\n"
    "background:#000}\n"
    "th.l,td.l{text-align:left}\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1 id=\"what\">tier router status</h1>\n"
    "<p id=\"period\" class=\"muted\"></p>\n"
    "<p id=\"note\" class=\"warn\" hidden></p>\n"
    "<div id=\"main\"><noscript><p>This page needs JavaScript: ?format=json\n"
    "has the same data.</p></noscript></div>\n"
    "<p id=\"updated\" class=\"muted\"></p>\n"
    "<script type=\"application/json\" id=\"status\">\n";


static u_char  ngx_http_tier_router_status_html_tail[] =
    "</script>\n"
    "<script>\n"
    "(function () {\n"
    "'use strict';\n"
    "var every = 5000, busy = false, shown = new Date(),\n"
    "    main = $('main'), note = $('note'), q;\n"
    "\n"
    "/* the same location, as JSON, with its other arguments */\n"
    "q = new URLSearchParams(location.search);\n"
    "q.set('format', 'json');\n"
    "q = location.pathname + '?' + q;\n"
    "\n"
    "function $(id) { return document.getElementById(id); }\n"
    "\n"
    "/* text goes in as text only, never as markup */\n"
    "function el(tag, text, cls) {\n"
    "  var e = document.createElement(tag);\n"
    "  if (text != null) e.textContent = text;\n"
    "  if (cls) e.className = cls;\n"
    "  return e;\n"
    "}\n"
    "\n"
    "function add(p, c) {\n"
    "  p.appendChild(typeof c === 'string' ? document.createTextNode(c)\n"
    "                                      : c);\n"
    "  return c;\n"
    "}\n"
    "\n"
    "function group(n) {\n"
    "  var s = String(Math.abs(n)), o = '';\n"
    "  while (s.length > 3) {\n"
    "    o = ',' + s.slice(-3) + o;\n"
    "    s = s.slice(0, -3);\n"
    "  }\n"
    "  return (n < 0 ? '-' : '') + s + o;\n"
    "}\n"
    "\n"
    "function num(n) { return typeof n === 'number' ? group(n) : '-'; }\n"
    "\n"
    "/* micro-dollars as dollars, exactly: 2 to 6 decimals */\n"
    "function usd(m) {\n"
    "  if (typeof m !== 'number') return '-';\n"
    "  var a = Math.abs(m), f = String(a % 1e6);\n"
    "  while (f.length < 6) f = '0' + f;\n"
    "  f = f.replace(/0+$/, '');\n"
    "  while (f.length < 2) f += '0';\n"
    "  return (m < 0 ? '-$' : '$') + group(Math.floor(a / 1e6)) + '.' + f;\n"
    "}\n"
    "\n"
    "function pct(x) {\n"
    "  return (Math.round(x * 1000) / 10).toFixed(1) + '%';\n"
    "}\n"
    "\n"
    "function utc(t) {\n"
    "  return new Date(t * 1000).toISOString().slice(0, 16)\n"
    "         .replace('T', ' ') + ' UTC';\n"
    "}\n"
    "\n"
    "function hms(d) { return d.toTimeString().slice(0, 8); }\n"
    "\n"
    "function used(s, l) { return l > 0 ? s / l : 1; }\n"
    "\n"
    "function level(f) {\n"
    "  return f >= 1 ? 'over' : f >= 0.8 ? 'near' : 'ok';\n"
    "}\n"
    "\n"
    "function clamp(f) { return Math.max(0, Math.min(1, f)) * 100 + '%'; }\n"
    "\n"
    "/* a bar filled to f, a mark at target, and its text */\n"
    "function gauge(f, cls, text, target) {\n"
    "  var g = el('span', null, 'gauge'),\n"
    "      b = add(g, el('span', null, 'bar'));\n"
    "  add(b, el('span', null, cls)).style.width = clamp(f);\n"
    "  if (target != null) {\n"
    "    add(b, el('span', null, 'mark')).style.left = clamp(target);\n"
    "  }\n"
    "  add(g, text);\n"
    "  return g;\n"
    "}\n"
    "\n"
    "function fig(p, value, what) {\n"
    "  var s = add(p, el('span', null, 'fig'));\n"
    "  add(s, el('b', value));\n"
    "  add(s, ' ' + what);\n"
    "}\n"
    "\n"
    "/* a table; the columns of gauges aligned left */\n"
    "function table(m, id, head, rows) {\n"
    "  var t = add(m, el('table')), b,\n"
    "      tr = add(add(t, el('thead')), el('tr'));\n"
    "  b = add(t, el('tbody'));\n"
    "  t.id = id;\n"
    "  head = head.map(function (h) { return add(tr, el('th', h)); });\n"
    "  rows.forEach(function (row) {\n"
    "    var r = add(b, el('tr'));\n"
    "    row.forEach(function (c, i) {\n"
    "      var td = add(r, el('td'));\n"
    "      add(td, c);\n"
    "      if (c.className === 'gauge') {\n"
    "        td.className = head[i].className = 'l';\n"
    "      }\n"
    "    });\n"
    "  });\n"
    "}\n"
    "\n"
    "function tenant(t) {\n"
    "  var u = used(t.spent_micro_usd, t.limit_micro_usd),\n"
    "      n = el('span', t.label || t.hash.slice(0, 12),\n"
    "             t.label ? '' : 'hash');\n"
    "  n.title = t.hash;\n"
    "  return [n, usd(t.spent_micro_usd), usd(t.reserved_micro_usd),\n"
    "          t.limit_micro_usd == null ? 'none' : usd(t.limit_micro_usd),\n"
    "          t.limit_micro_usd == null ? '' : gauge(u, level(u), pct(u)),\n"
    "          num(t.requests), num(t.refused), num(t.capped)];\n"
    "}\n"
    "\n"
    "/* a tier's share of its ladder's requests, against its target */\n"
    "function tier(sum, t) {\n"
    "  var s = sum[t.ladder] ? t.requests / sum[t.ladder] : 0,\n"
    "      g = t.target_share;\n"
    "  return [(t.ladder ? t.ladder + ' / ' : '') + t.name,\n"
    "          num(t.requests), gauge(s, 'share', pct(s), g),\n"
    "          g == null ? '-' : pct(g), usd(t.cost_micro_usd),\n"
    "          usd(t.baseline_micro_usd),\n"
    "          usd(t.baseline_micro_usd - t.cost_micro_usd),\n"
    "          num(t.fell_back), num(t.escalated),\n"
    "          num(t.input_tokens) + ' / ' + num(t.output_tokens),\n"
    "          mean(t.time_to_first_token) + ' / ' + mean(t.duration)];\n"
    "}\n"
    "\n"
    "/* a latency histogram's mean, in milliseconds */\n"
    "function mean(h) {\n"
    "  return h && h.count ? num(Math.round(h.sum_ms / h.count)) : '-';\n"
    "}\n"
    "\n"
    "function budget(m, d) {\n"
    "  var p, u, sum = {}, ts = d.tenants, tiers = d.tiers || [];\n"
    "  $('what').textContent = 'Budget zone ' + d.zone;\n"
    "  $('period').textContent = d.period_end\n"
    "    ? 'Period ' + d.period + ': ' + utc(d.period_start) + ' to '\n"
    "      + utc(d.period_end)\n"
    "    : 'Period total: never resets';\n"
    "  p = add(m, el('p'));\n"
    "  p.id = 'summary';\n"
    "  fig(p, usd(d.spent_micro_usd), 'spent');\n"
    "  if (d.limit_micro_usd != null) {\n"
    "    u = used(d.spent_micro_usd, d.limit_micro_usd);\n"
    "    fig(p, usd(d.limit_micro_usd), 'limit');\n"
    "    add(p, gauge(u, level(u), pct(u) + ' used'));\n"
    "  }\n"
    "  p = add(m, el('p'));\n"
    "  fig(p, usd(d.reserved_micro_usd), 'reserved');\n"
    "  fig(p, usd(d.baseline_micro_usd), 'baseline');\n"
    "  fig(p, usd(d.baseline_micro_usd - d.spent_micro_usd), 'saved');\n"
    "  fig(p, num(d.requests), 'requests');\n"
    "  fig(p, num(d.refused), 'refused');\n"
    "  fig(p, num(d.capped), 'capped');\n"
    "  add(m, el('h2', 'Tenants ' + (ts.length ? (d.offset + 1) + '-'\n"
    "    + (d.offset + ts.length) : 'none') + ' of ' + num(d.tenants_total)\n"
    "    + ', by spend'));\n"
    "  table(m, 'tenants', ['tenant', 'spent', 'reserved', 'limit', 'used',\n"
    "        'requests', 'refused', 'capped'], ts.map(tenant));\n"
    "  tiers.forEach(function (t) {\n"
    "    sum[t.ladder] = (sum[t.ladder] || 0) + t.requests;\n"
    "  });\n"
    "  add(m, el('h2', 'Tiers'));\n"
    "  table(m, 'tiers', ['tier', 'requests', 'share of ladder', 'target',\n"
    "        'spend', 'baseline', 'saved', 'fell back', 'escalated',\n"
    "        'tokens in/out', 'ms 1st/end'],\n"
    "        tiers.map(tier.bind(null, sum)));\n"
    "}\n"
    "\n"
    "function shares(m, d) {\n"
    "  $('what').textContent = 'Shares zone ' + d.zone;\n"
    "  $('period').textContent = 'Window ' + num(d.window)\n"
    "    + ' requests, step ' + d.step + ', ' + num(d.samples)\n"
    "    + ' samples';\n"
    "  add(m, el('h2', 'Tiers: observed share against the target'));\n"
    "  table(m, 'shares', ['tier', 'target', 'observed', 'max_score',\n"
    "        'configured'], d.tiers.map(function (t) {\n"
    "    var g = t.target_share, o = t.observed_share;\n"
    "    return [t.name, g == null ? '-' : pct(g),\n"
    "            gauge(o, 'share', pct(o), g), t.max_score.toFixed(3),\n"
    "            t.configured_max_score.toFixed(3)];\n"
    "  }));\n"
    "}\n"
    "\n"
    "function render(d) {\n"
    "  var m = el('div');\n"
    "  (d.tenants ? budget : shares)(m, d);\n"
    "  m.id = 'main';\n"
    "  main.parentNode.replaceChild(m, main);\n"
    "  main = m;\n"
    "  shown = new Date();\n"
    "  $('updated').textContent = 'Updated ' + hms(shown) + ', every '\n"
    "    + every / 1000 + ' s';\n"
    "  document.title = $('what').textContent;\n"
    "}\n"
    "\n"
    "function fail(why) {\n"
    "  note.textContent = why + ' at ' + hms(new Date())\n"
    "    + '; shown: the data of ' + hms(shown);\n"
    "  note.hidden = false;\n"
    "}\n"
    "\n"
    "function refresh() {\n"
    "  if (busy) return;\n"
    "  busy = true;\n"
    "  fetch(q, { cache: 'no-store',\n"
    "             headers: { Accept: 'application/json' } })\n"
    "    .then(function (r) {\n"
    "      if (!r.ok) throw new Error('HTTP ' + r.status);\n"
    "      return r.json();\n"
    "    })\n"
    "    .then(function (d) { render(d); note.hidden = true; })\n"
    "    .catch(function (e) {\n"
    "      fail('Refresh failed (' + e.message + ')');\n"
    "    })\n"
    "    .then(function () { busy = false; });\n"
    "}\n"
    "\n"
    "try {\n"
    "  render(JSON.parse($('status').textContent));\n"
    "} catch (e) {\n"
    "  fail('Cannot show the status (' + e.message + ')');\n"
    "}\n"
    "\n"
    "setInterval(refresh, every);\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";


static ngx_str_t  ngx_http_tier_router_status_html_csp = ngx_string(
    "default-src 'none'; "
    "style-src 'sha256-XEubyQzEV/6AkeXPmPBWMyV2ZOmC68Jwend3fR6wa3w='; "
    "script-src 'sha256-X9VTDhxRTjfuQ8iLlZCFxqaWDzT1EkCN+96AF+y7pIg='; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'");

static ngx_str_t  ngx_http_tier_router_status_html_type =
    ngx_string("text/html; charset=utf-8");
static ngx_str_t  ngx_http_tier_router_status_html_no_store =
    ngx_string("no-store");
static ngx_str_t  ngx_http_tier_router_status_html_nosniff =
    ngx_string("nosniff");


/*
 * Whether the client prefers HTML: text/html's q-value (from the most
 * specific range that matches it: text/html, then text with any subtype,
 * then any type) above 0 and above application/json's.  A tie is JSON, so
 * a client that takes anything, or sends no Accept, keeps the JSON that
 * scrapers read.  The first 32 ranges of the Accept headers are read, no
 * more, whatever their length; a range with a bad q-value or parameter
 * counts for nothing.
 */

ngx_uint_t
ngx_http_tier_router_status_html_wanted(ngx_http_request_t *r)
{
    ngx_str_t                       name;
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_table_elt_t                *h;
    ngx_http_tier_router_accept_t   a;

    ngx_str_set(&name, "Accept");
    ngx_memzero(&a, sizeof(ngx_http_tier_router_accept_t));

    part = &r->headers_in.headers.part;
    i = 0;

    while (a.ranges < NGX_HTTP_TIER_ROUTER_ACCEPT_RANGES) {

        h = ngx_http_tier_router_next_header(&part, &i, &name);
        if (h == NULL) {
            break;
        }

        ngx_http_tier_router_status_html_ranges(h->value.data,
                                          h->value.data + h->value.len, &a);
    }

    return a.spec[NGX_HTTP_TIER_ROUTER_ACCEPT_HTML]
           && a.q[NGX_HTTP_TIER_ROUTER_ACCEPT_HTML] > 0
           && a.q[NGX_HTTP_TIER_ROUTER_ACCEPT_HTML]
              > a.q[NGX_HTTP_TIER_ROUTER_ACCEPT_JSON];
}


/* the ranges of one Accept header: "type/subtype;q=0.5, ..." */

static void
ngx_http_tier_router_status_html_ranges(u_char *p, u_char *last,
    ngx_http_tier_router_accept_t *a)
{
    u_char     *end;
    ngx_int_t   q;
    ngx_str_t   type, subtype;

    while (a->ranges < NGX_HTTP_TIER_ROUTER_ACCEPT_RANGES) {

        while (p < last && (*p == ',' || *p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last) {
            return;
        }

        a->ranges++;

        /* the range ends at a comma outside a quoted string */

        end = p;

        while (end < last && *end != ',') {
            end = (*end == '"')
                  ? ngx_http_tier_router_status_html_quoted(end, last)
                  : end + 1;
        }

        type.data = p;
        p = ngx_http_tier_router_status_html_token(p, end);
        type.len = p - type.data;

        if (type.len && p < end && *p == '/') {
            subtype.data = ++p;
            p = ngx_http_tier_router_status_html_token(p, end);
            subtype.len = p - subtype.data;

            q = ngx_http_tier_router_status_html_params(p, end);

            if (subtype.len && q >= 0) {
                ngx_http_tier_router_status_html_match(a, &type, &subtype,
                                                       q);
            }
        }

        p = end;
    }
}


/*
 * The parameters of a range, OWS ";" OWS name "=" value each: its
 * q-value (1000 without one), or -1 if they are not well formed.
 */

static ngx_int_t
ngx_http_tier_router_status_html_params(u_char *p, u_char *last)
{
    u_char     *name, *value;
    ngx_int_t   q;

    q = 1000;

    for ( ;; ) {
        p = ngx_http_tier_router_status_html_ows(p, last);

        if (p == last) {
            return q;
        }

        if (*p != ';') {
            return -1;
        }

        p = ngx_http_tier_router_status_html_ows(p + 1, last);

        name = p;
        p = ngx_http_tier_router_status_html_token(p, last);

        if (p == name || p == last || *p != '=') {
            return -1;
        }

        value = ++p;
        p = (p < last && *p == '"')
            ? ngx_http_tier_router_status_html_quoted(p, last)
            : ngx_http_tier_router_status_html_token(p, last);

        /* "q=": a name of one letter before the value */

        if (value - name == 2 && (*name | 0x20) == 'q') {
            q = ngx_http_tier_router_status_html_qvalue(value, p);

            if (q < 0) {
                return -1;
            }
        }
    }
}


/* "0", "0.5", "0.125", "1", "1.000": in thousandths; else -1 */

static ngx_int_t
ngx_http_tier_router_status_html_qvalue(u_char *p, u_char *last)
{
    ngx_int_t   q, unit;

    if (p == last || (*p != '0' && *p != '1')) {
        return -1;
    }

    q = (*p++ - '0') * 1000;

    if (p == last) {
        return q;
    }

    if (*p++ != '.' || last - p > 3) {
        return -1;
    }

    for (unit = 100; p < last; unit /= 10) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        q += (*p++ - '0') * unit;
    }

    return (q > 1000) ? -1 : q;
}


/* what a range says of text/html and of application/json */

static void
ngx_http_tier_router_status_html_match(ngx_http_tier_router_accept_t *a,
    ngx_str_t *type, ngx_str_t *subtype, ngx_int_t q)
{
    ngx_uint_t  i, spec;

    static const struct {
        const char  *type;
        size_t       type_len;
        const char  *subtype;
        size_t       subtype_len;
    }  media[2] = {
        { "text", 4, "html", 4 },
        { "application", 11, "json", 4 }
    };

    for (i = 0; i < 2; i++) {

        if (type->len == 1 && type->data[0] == '*') {
            spec = (subtype->len == 1 && subtype->data[0] == '*') ? 1 : 0;

        } else if (type->len == media[i].type_len
                   && ngx_strncasecmp(type->data, (u_char *) media[i].type,
                                      type->len) == 0)
        {
            if (subtype->len == 1 && subtype->data[0] == '*') {
                spec = 2;

            } else if (subtype->len == media[i].subtype_len
                       && ngx_strncasecmp(subtype->data,
                                          (u_char *) media[i].subtype,
                                          subtype->len) == 0)
            {
                spec = 3;

            } else {
                spec = 0;
            }

        } else {
            spec = 0;
        }

        /* the most specific range wins; of two as specific, the higher */

        if (spec > a->spec[i] || (spec && spec == a->spec[i] && q > a->q[i]))
        {
            a->spec[i] = spec;
            a->q[i] = q;
        }
    }
}


/* a token: up to a space, a control, a separator of the header */

static u_char *
ngx_http_tier_router_status_html_token(u_char *p, u_char *last)
{
    while (p < last && *p > ' ' && *p != 0x7f
           && ngx_strchr(",;=/\"\\", *p) == NULL)
    {
        p++;
    }

    return p;
}


static u_char *
ngx_http_tier_router_status_html_ows(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* past a quoted string, at p, with its escapes; or the end, unclosed */

static u_char *
ngx_http_tier_router_status_html_quoted(u_char *p, u_char *last)
{
    for (p++; p < last && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < last) {
            p++;
        }
    }

    return (p < last) ? p + 1 : p;
}


/*
 * The page around the status JSON, with the headers it is served with.
 * In the JSON, "<", ">" and "&" become \u escapes, which JSON.parse()
 * reads back as they were: nothing in a string (a tenant's label, which
 * whoever sends requests may choose) can then end the data block, or
 * open a comment or another script in it.
 */

ngx_buf_t *
ngx_http_tier_router_status_html(ngx_http_request_t *r, ngx_buf_t *json)
{
    u_char     *p, *s;
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof(ngx_http_tier_router_status_html_head) - 1
          + sizeof(ngx_http_tier_router_status_html_tail) - 1;

    for (s = json->pos; s < json->last; s++) {
        len += (*s == '<' || *s == '>' || *s == '&') ? 6 : 1;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, ngx_http_tier_router_status_html_head,
                   sizeof(ngx_http_tier_router_status_html_head) - 1);

    for (s = json->pos; s < json->last; s++) {

        switch (*s) {

        case '<':
            p = ngx_cpymem(p, "\\u003c", 6);
            break;

        case '>':
            p = ngx_cpymem(p, "\\u003e", 6);
            break;

        case '&':
            p = ngx_cpymem(p, "\\u0026", 6);
            break;

        default:
            *p++ = *s;
        }
    }

    b->last = ngx_cpymem(p, ngx_http_tier_router_status_html_tail,
                         sizeof(ngx_http_tier_router_status_html_tail) - 1);

    if (ngx_http_tier_router_add_header(r, "Content-Security-Policy",
                                        &ngx_http_tier_router_status_html_csp)
        != NGX_OK
        || ngx_http_tier_router_add_header(r, "Cache-Control",
                                   &ngx_http_tier_router_status_html_no_store)
           != NGX_OK
        || ngx_http_tier_router_add_header(r, "X-Content-Type-Options",
                                    &ngx_http_tier_router_status_html_nosniff)
           != NGX_OK)
    {
        return NULL;
    }

    r->headers_out.content_type = ngx_http_tier_router_status_html_type;

    return b;
}
