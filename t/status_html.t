#!/usr/bin/perl

# The status page for a browser (tier_router_status answering HTML).
#
# Over HTTP: the Accept header chooses HTML or JSON (a browser's HTML;
# anything, none, application/json JSON; q-values read, a bad one
# ignored), format= wins over it and an unknown one is a 400, every
# answer varies by Accept, the page's headers (its type, no-store,
# nosniff, a policy that allows the page's own style and script by their
# hashes and nothing from elsewhere), HEAD, the JSON inside the page the
# same as ?format=json's, tenant labels made to break out of it inert,
# a shares zone's page.
#
# In headless Chromium (Debian's chromium, which scripts/deps.sh --tests
# installs: without it, a failure; TEST_CHROMIUM=0 leaves this part out,
# the HTTP part still runs): the rendered DOM shows the numbers of the
# JSON, each tenant's and tier's, the labels as text; the page refreshes
# from ?format=json with the other arguments kept, and says so when a
# refresh fails (a 503, an answer that is not JSON), with the last data
# kept; a screenshot, read back (t/lib/TierRouter/PNG.pm, tested here on
# images of every filter and colour type), is of the window's size, not
# blank, and has the bars' colours.  The clock is pinned
# (tier_router_budget_clock): the period is November 2026 whatever the
# day.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_base64);
use Compress::Zlib qw(compress crc32);
use Encode qw(decode);
use POSIX qw(floor :sys_wait_h);
use Time::HiRes qw(sleep time);

use TierRouter::Test;
use TierRouter::PNG;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

my $CHROME = 'text/html,application/xhtml+xml,application/xml;q=0.9,'
             . 'image/avif,image/webp,image/apng,*/*;q=0.8,'
             . 'application/signed-exchange;v=b3;q=0.7';
my $FIREFOX = 'text/html,application/xhtml+xml,application/xml;q=0.9,'
              . '*/*;q=0.8';

# labels made to break out of the page: of the data block, into markup,
# into a comment; entities that must stay text; UTF-8

my $SCRIPT_LABEL = '</script><img src=x onerror=alert(1)>';
my $COMMENT_LABEL = "<!--<script>x=1</script>&amp;\"Zo\xc3\xab\"";

$t->mock($_) for qw(small mid frontier);

$t->write_config(<<'EOF');
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    %%UPSTREAMS small mid frontier%%

    tier_router_tier small    model=small-model    upstream=small_up;
    tier_router_tier mid      model=mid-model      upstream=mid_up
                              share=30%;
    tier_router_tier frontier model=frontier-model upstream=frontier_up
                              share=10%;

    tier_router_price small-model    input=1   output=2;
    tier_router_price mid-model      input=10  output=20;
    tier_router_price frontier-model input=100 output=200;

    tier_router_shares zone=shares:32k;
    tier_router_budget_zone zone=tenants:1m period=month limit=0.1;
    tier_router_budget_zone zone=none:32k period=total;

    map $http_x_limit $limit {
        default  $http_x_limit;
    }

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";

    server {
        listen 127.0.0.1:%%PORT_main%%;

        # 2026-11-15 12:00 UTC, whatever the day the test runs: the
        # period is November 2026

        tier_router_budget_clock 1794744000;

        location /v1/ {
            tier_router on;
            tier_router_override_header X-Tier;
            tier_router_budget zone=tenants key=$http_authorization
                               limit=$limit label=$http_x_label;
            tier_router_budget_soft 50% small;
            tier_router_fallback http_503;
            tier_router_escalate length;
            tier_router_attempts 3;
            proxy_pass http://$tier_router_upstream;
        }

        location /auto/ {
            tier_router on;
            proxy_pass http://$tier_router_upstream;
        }

        location = /status {
            tier_router_status tenants;
        }

        location = /shares {
            tier_router_status shares;
        }

        location = /none {
            tier_router_status none;
        }

        # the page loads; its refreshes fail, or get no JSON

        location = /broken {
            if ($arg_format = json) {
                return 503;
            }

            tier_router_status tenants;
        }

        location = /garbled {
            if ($arg_format = json) {
                return 200 "<html>not the status</html>";
            }

            tier_router_status tenants;
        }
    }
}
EOF

$t->run;


# -- spend: tenants and tiers with real numbers -------------------------------

sub call {
    my ($key, %o) = @_;

    my @h = @{delete $o{headers} // []};
    push @h, 'X-Label' => delete $o{label} if defined $o{label};

    return $t->llm_call(key => "Bearer sk-$key", max => 10, headers => \@h,
                        %o);
}

sub status_json {
    my ($path) = @_;

    my $r = $t->http_get($path // '/status?limit=50');

    die "status: $r->{status}\n" unless $r->{status} == 200;

    return $J->decode($r->{body});
}

# settled: nothing reserved, nothing in flight

sub settled {
    return $t->wait_for(sub {
        my $s = status_json();
        return $s->{reserved_micro_usd} == 0
               && !grep({ $_->{in_flight} } @{$s->{tenants}}) ? $s : undef;
    }) // die "requests still in flight after 10 s\n";
}

# dollars of micro-dollars, for a limit

sub dollars { sprintf '%d.%06d', int($_[0] / 1e6), $_[0] % 1e6 }

my @served;

push @served, call('alice', label => 'alice', tier => 'small', limit => 1);
push @served, call('alice', label => 'alice', tier => 'mid', limit => 1);
push @served, call('alice', label => 'alice', tier => 'small', limit => 1,
                   headers => ['X-Mock-For' => 'small',
                               'X-Mock-Status' => '503']);
push @served, call('alice', label => 'alice', tier => 'small', limit => 1,
                   headers => ['X-Mock-For' => 'small',
                               'X-Mock-Finish' => 'length']);
push @served, call('bob', tier => 'small');
push @served, call('bob', tier => 'frontier');
push @served, call('carol', label => 'carol', tier => 'mid', limit => 1);
push @served, call('dave', label => 'dave', tier => 'frontier', limit => 1);
push @served, call('mallory', label => $SCRIPT_LABEL, tier => 'small');
push @served, call('eve', label => $COMMENT_LABEL, tier => 'mid');

# classified requests, for the shares' histogram

push @served, $t->llm_call(prefix => '/auto/', text => $_)
    for TierRouter::Test->easy_prompt, TierRouter::Test->hard_prompt;

is(scalar(grep { $_->{status} == 200 } @served), scalar @served,
   scalar(@served) . ' requests served');

# alice past the soft 50%: capped to small, then each tenant's limit set
# (a request that nothing fits, refused) so that its budget is 40% (alice),
# 90% (carol), 150% (dave) used

my $st = settled();
my %spent = map { (($_->{label} || $_->{hash}) => $_->{spent_micro_usd}) }
            @{$st->{tenants}};

my $r = call('alice', label => 'alice', tier => 'mid',
             limit => dollars(int($spent{alice} / 0.6)));
is($r->{headers}{'x-tier-router-tier'}, 'small', 'alice past 50%: capped');

$st = settled();
%spent = map { (($_->{label} || $_->{hash}) => $_->{spent_micro_usd}) }
         @{$st->{tenants}};

for ([alice => 0.4], [carol => 0.9], [dave => 1.5]) {
    my ($who, $used) = @$_;
    $r = call($who, label => $who, tier => 'small', max => 100000,
              limit => dollars(int($spent{$who} / $used)));
    is($r->{status}, 429, "$who: the limit set for " . ($used * 100)
                          . '% used (refused)');
}

my $json = settled();

ok($json->{capped} >= 1 && $json->{refused} >= 3 && $json->{tenants_total}
   == 6, "the zone: $json->{tenants_total} tenants, $json->{capped} "
   . "capped, $json->{refused} refused");

my %tier = map { $_->{name} => $_ } @{$json->{tiers}};

ok($tier{small}{fell_back} >= 1 && $tier{small}{escalated} >= 1,
   'small fell back and escalated');
is_deeply([map { $_->{target_share} } @{$json->{tiers}}], [undef, 0.3, 0.1],
          'JSON: each tier\'s target_share, null without share=');


# -- Accept and format= choose the answer -------------------------------------

sub kind {
    my ($r) = @_;

    my $type = $r->{headers}{'content-type'} // '';

    return $type eq 'text/html; charset=utf-8' ? 'html'
         : $type eq 'application/json' ? 'json'
         : $type =~ m{^text/plain; version=0\.0\.4} ? 'prometheus'
         : "other ($r->{status} $type)";
}

sub get {
    my ($path, @h) = @_;

    return $t->http_get($path, headers => \@h);
}

for my $case (
    [ 'Chrome\'s',                           $CHROME,  'html' ],
    [ 'Firefox\'s',                          $FIREFOX, 'html' ],
    [ 'none',                                undef,    'json' ],
    [ '*/* (curl)',                          '*/*',    'json' ],
    [ 'application/json',                    'application/json', 'json' ],
    [ 'text/html',                           'text/html', 'html' ],
    [ 'TEXT/HTML',                           'TEXT/HTML', 'html' ],
    [ 'text/*',                              'text/*', 'html' ],
    [ 'text/html, application/json (a tie)', 'text/html, application/json',
      'json' ],
    [ 'text/html;q=0.5, application/json',
      'text/html;q=0.5, application/json', 'json' ],
    [ 'application/json;q=0.5, text/html',
      'application/json;q=0.5, text/html', 'html' ],
    [ 'application/*;q=0.9, text/html',
      'application/*;q=0.9, text/html', 'html' ],
    [ 'text/html;level=1;Q=0.9, application/json;q=0.8',
      'text/html;level=1;Q=0.9, application/json;q=0.8', 'html' ],
    [ 'text/html;q=0', 'text/html;q=0', 'json' ],
    [ 'text/html;q=0.000', 'text/html;q=0.000', 'json' ],
    [ 'text/html;q=1.000', 'text/html;q=1.000', 'html' ],
    [ 'a bad q-value (2)', 'text/html;q=2', 'json' ],
    [ 'a bad q-value (0.1234)', 'text/html;q=0.1234', 'json' ],
    [ 'a bad q-value (1.5)', 'text/html;q=1.5', 'json' ],
    [ 'a bad q-value (x)', 'text/html;q=x', 'json' ],
    [ 'a quoted q', 'text/html;q="1"', 'json' ],
    [ 'a parameter without a value', 'text/html;q', 'json' ],
    [ 'garbage after the range', 'text/html junk', 'json' ],
    [ 'no subtype', 'text/, text', 'json' ],
    [ 'a comma in a quoted parameter',
      'text/plain;a="x,text/html,y", application/json;q=0.1', 'json' ],
    [ 'an unclosed quote', 'text/plain;a="x, text/html', 'json' ],
    [ 'empty elements and spaces', ' , ,text/html ,', 'html' ],
    [ 'image/png only', 'image/png', 'json' ],
    [ 'text/html after 32 other ranges',
      join(', ', ('image/png') x 32, 'text/html'), 'json' ],
    [ 'text/html after 31 other ranges',
      join(', ', ('image/png') x 31, 'text/html'), 'html' ],
)
{
    my ($name, $accept, $want) = @$case;

    $r = get('/status', defined $accept ? (Accept => $accept) : ());
    is(kind($r), $want, "Accept $name: $want");
}

# two Accept headers: both read

is(kind(get('/status', Accept => 'application/json;q=0.2',
            Accept => 'text/html')), 'html', 'two Accept headers: both read');

# one long header: at most 32 ranges read, whatever its length

$r = get('/status', Accept => join(',', ('x/y;a=b') x 800, 'text/html'));
is(kind($r), 'json', 'a header of 800 ranges: the first 32 read');

for my $case (
    [ '?format=json', $CHROME, 'json' ],
    [ '?format=html', undef, 'html' ],
    [ '?format=html', 'application/json', 'html' ],
    [ '?format=prometheus', $CHROME, 'prometheus' ],
    [ '?limit=2&format=json&offset=1', $CHROME, 'json' ],
)
{
    my ($q, $accept, $want) = @$case;

    $r = get("/status$q", defined $accept ? (Accept => $accept) : ());
    is(kind($r), $want, "$q, Accept " . ($accept ? substr($accept, 0, 16)
                                                  : 'none') . ": $want");
}

like(get('/status?format=prometheus', Accept => $CHROME)->{body},
     qr/^# HELP tier_router_zone_spend_dollars .*^tier_router_tenant_spend_dollars\{zone="tenants",tenant="alice"\} /sm,
     'Prometheus: as it was, whatever the Accept header');

for my $q ('?format=xml', '?format=', '?format=HTML', '?format=json2',
           '?limit=5&format=jsonx')
{
    $r = get("/status$q", Accept => $CHROME);
    is($r->{status}, 400, "$q: 400");
    is($r->{headers}{'content-type'}, 'text/plain', "$q: text/plain");
    like($r->{body}, qr/^unknown format: format= takes json, html or prometheus\n\z/,
         "$q: the formats there are, in the body");
}

is(get('/status?limit=x', Accept => $CHROME)->{status}, 400,
   'a bad limit: 400, for the page too');

# every answer of the location varies by Accept

for my $case (
    [ 'JSON', 'GET', '/status' ],
    [ 'HTML', 'GET', '/status', Accept => $CHROME ],
    [ 'Prometheus', 'GET', '/status?format=prometheus' ],
    [ 'an unknown format', 'GET', '/status?format=xml' ],
    [ 'a bad limit', 'GET', '/status?limit=x' ],
    [ 'POST', 'POST', '/status' ],
    [ 'HEAD', 'HEAD', '/status', Accept => $CHROME ],
    [ 'the shares\' JSON', 'GET', '/shares' ],
    [ 'the shares\' page', 'GET', '/shares', Accept => $CHROME ],
)
{
    my ($name, $method, $path, @h) = @$case;

    $r = $t->http($method, $path, headers => \@h);
    is($r->{headers}{vary}, 'Accept', "$name ($r->{status}): Vary: Accept");
}


# -- the page -----------------------------------------------------------------

# the data block, and the page around it

sub parts {
    my ($html) = @_;

    my ($before, $data, $after) = $html =~
        m{^(.*<script type="application/json" id="status">)(.*?)(</script>.*)\z}s
        or return;

    return ($before, $data, $after);
}

my $page = get('/status?limit=50', Accept => $CHROME);

is($page->{status}, 200, 'the page: 200');
is($page->{headers}{'content-type'}, 'text/html; charset=utf-8',
   'the page: text/html; charset=utf-8');
is($page->{headers}{'cache-control'}, 'no-store', 'the page: no-store');
is($page->{headers}{'x-content-type-options'}, 'nosniff',
   'the page: nosniff');
is($page->{headers}{'content-length'}, length $page->{body},
   'the page: its Content-Length');

my ($before, $data, $after) = parts($page->{body});

ok(defined $data, 'the page has the status in a data block')
    or diag(substr($page->{body}, 0, 500));

is_deeply($J->decode($data), $json, 'the JSON in the page is ?format=json\'s');

my $template = $before . $after;
my $size = length $template;

ok($size < 12000, "the page without its data: $size bytes");
note("the page without its data: $size bytes");

unlike($template, qr{https?:|//[\w.-]+/|<link|<img|<iframe|src=|\@import|url\(}i,
       'the page loads nothing from anywhere');
is(scalar(() = $template =~ /<script\b/g), 2,
   'the page has two scripts, the data and its own');

# the labels made to break out

unlike($data, qr/[<>&]/, 'the data block has no "<", ">" or "&" at all');
is(scalar(() = $page->{body} =~ m{</script}gi), 2,
   'no "</script" but the two scripts\' own');
unlike($page->{body}, qr/<img|<!--/i, 'no tag or comment from a label');

my %label = map { ($_->{label} => 1) } @{$J->decode($data)->{tenants}};

ok($label{$SCRIPT_LABEL} && $label{decode('UTF-8', $COMMENT_LABEL)},
   'both labels whole in the data, read back');

# the policy: the page's own style and script by their hashes; fetching
# from this origin; nothing else

my $csp = $page->{headers}{'content-security-policy'} // '';
my %csp = map { /^\s*([\w-]+)\s*(.*?)\s*$/ ? ($1 => $2) : () }
          split /;/, $csp;

my ($style) = $before =~ m{<style>(.*?)</style>}s;
my ($script) = $after =~ m{<script>(.*?)</script>}s;

is($csp{'default-src'}, "'none'", 'CSP: default-src \'none\'');
is($csp{'connect-src'}, "'self'", 'CSP: connect-src \'self\'');
is($csp{'style-src'}, "'sha256-" . sha256_base64($style) . "='",
   'CSP: style-src, the hash of the page\'s style')
    or diag("the style's hash: sha256-" . sha256_base64($style) . '=');
is($csp{'script-src'}, "'sha256-" . sha256_base64($script) . "='",
   'CSP: script-src, the hash of the page\'s script')
    or diag("the script's hash: sha256-" . sha256_base64($script) . '=');
is_deeply([sort keys %csp], [sort qw(default-src style-src script-src
                                     connect-src base-uri form-action
                                     frame-ancestors)],
          'CSP: those, base-uri, form-action and frame-ancestors');
ok(!grep({ /https?:|\*|unsafe/ } values %csp), 'CSP: no origin, no '
   . 'wildcard, nothing unsafe');

# HEAD: the headers of the GET, no body

$r = $t->http('HEAD', '/status?limit=50', headers => [Accept => $CHROME]);
is($r->{status}, 200, 'HEAD, the page: 200');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8',
   'HEAD, the page: text/html');
is($r->{headers}{'content-length'}, length $page->{body},
   'HEAD, the page: the GET\'s length');
is($r->{body}, '', 'HEAD, the page: no body');

$r = $t->http('HEAD', '/status');
is(kind($r), 'json', 'HEAD without Accept: JSON');
is($r->{body}, '', 'HEAD, JSON: no body');

# a page of the tenants: the same page of the JSON

($before, $data) = parts(get('/status?limit=2&offset=1',
                             Accept => $CHROME)->{body});
is_deeply($J->decode($data), status_json('/status?limit=2&offset=1'),
          'limit=2&offset=1: the JSON in the page is that page\'s');

# the shares zone, and a zone with no tenant

for my $path ('/shares', '/none') {
    $r = get($path, Accept => $FIREFOX);
    is(kind($r), 'html', "$path: a page");
    ($before, $data) = parts($r->{body});
    is_deeply($J->decode($data // 'null'), status_json("$path?format=json"),
              "$path: the JSON in the page is ?format=json's");
}


# -- the PNG reader, on images of every filter and colour type ----------------

{
    # an image of w x h, its rows filtered with the types given in turn

    my $png = sub {
        my ($w, $h, $ct, $bpp, $filters, $plte) = @_;

        my (@rows, $raw, $prev);

        srand(19);

        for my $y (0 .. $h - 1) {
            push @rows, [map { int rand 256 } 1 .. $w * $bpp];
        }

        # a palette's indices: 0 to 3

        if ($ct == 3) {
            $_ = [map { $_ % 4 } @$_] for @rows;
        }

        $raw = '';
        $prev = [(0) x ($w * $bpp)];

        for my $y (0 .. $h - 1) {
            my $f = $filters->[$y % @$filters];
            my $cur = $rows[$y];
            my @out;

            for my $i (0 .. $#$cur) {
                my $a = $i >= $bpp ? $cur->[$i - $bpp] : 0;
                my $b = $prev->[$i];
                my $c = $i >= $bpp ? $prev->[$i - $bpp] : 0;
                my $p = $a + $b - $c;
                my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b),
                                      abs($p - $c));
                my $pred = $f == 0 ? 0 : $f == 1 ? $a : $f == 2 ? $b
                         : $f == 3 ? ($a + $b) >> 1
                         : $pa <= $pb && $pa <= $pc ? $a
                         : $pb <= $pc ? $b : $c;
                push @out, ($cur->[$i] - $pred) & 0xff;
            }

            $raw .= pack 'C*', $f, @out;
            $prev = $cur;
        }

        my $chunk = sub {
            my ($type, $body) = @_;
            return pack('N', length $body) . $type . $body
                   . pack('N', crc32($type . $body));
        };

        return ("\x89PNG\r\n\x1a\n"
                . $chunk->('IHDR', pack 'NNCCCCC', $w, $h, 8, $ct, 0, 0, 0)
                . ($plte ? $chunk->('PLTE', $plte) : '')
                . $chunk->('IDAT', compress($raw))
                . $chunk->('IEND', ''), \@rows);
    };

    my $plte = pack 'C*', 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9;

    for my $case ([0, 1, 'grey'], [2, 3, 'RGB'], [3, 1, 'palette'],
                  [4, 2, 'grey and alpha'], [6, 4, 'RGBA'])
    {
        my ($ct, $bpp, $name) = @$case;
        my ($bytes, $rows) = $png->(7, 10, $ct, $bpp, [0, 1, 2, 3, 4],
                                    $ct == 3 ? $plte : undef);
        my $img = eval { TierRouter::PNG->read($bytes) };

        ok($img && $img->{width} == 7 && $img->{height} == 10,
           "PNG: $name, filters 0-4: read") or diag($@);

        my ($ok, $n) = (1, 0);

        for my $y (0 .. 9) {
            for my $x (0 .. 6) {
                my @v = @{$rows->[$y]}[$x * $bpp .. $x * $bpp + $bpp - 1];
                my $want = $ct == 2 || $ct == 6 ? sprintf('%02x%02x%02x',
                                                          @v[0 .. 2])
                         : $ct == 3 ? unpack('H6', substr($plte, $v[0] * 3,
                                                          3))
                         : sprintf('%02x', $v[0]) x 3;
                $ok = 0 if !$img || $img->pixel($x, $y) ne $want;
                $n++;
            }
        }

        ok($ok, "PNG: $name: the $n pixels as written");
    }

    my ($bytes) = $png->(4, 4, 2, 3, [0]);

    (my $bad = $bytes) =~ s/IDAT(.)/IDAT\x{0}/s;
    ok(!eval { TierRouter::PNG->read($bad) } && $@ =~ /CRC/,
       'PNG: a bad CRC is found');
    ok(!eval { TierRouter::PNG->read(substr $bytes, 0, 40) }
       && $@ =~ /truncated|past the end/, 'PNG: a truncated file is found');
    ok(!eval { TierRouter::PNG->read("GIF89a") } && $@ =~ /not a PNG/,
       'PNG: not a PNG');
}


# -- headless Chromium --------------------------------------------------------

my ($chromium) = grep { -x } map { "$_/chromium" }
                 split(/:/, $ENV{PATH} // ''), '/usr/bin';

SKIP: {
    skip 'TEST_CHROMIUM=0', 1 if ($ENV{TEST_CHROMIUM} // '') eq '0';

    unless ($chromium) {
        fail('chromium is not installed (scripts/deps.sh --tests installs '
             . 'it; TEST_CHROMIUM=0 leaves this part out)');
        last SKIP;
    }

    browser();
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert in the log');

$t->stop;

done_testing;


# the numbers as the page writes them

sub group {
    my ($n) = @_;
    my $s = abs $n;
    1 while $s =~ s/^(\d+)(\d{3})/$1,$2/;
    return ($n < 0 ? '-' : '') . $s;
}

# a latency histogram's mean in milliseconds, as the page rounds it

sub mean {
    my ($h) = @_;
    return '-' unless $h && $h->{count};
    return group(int($h->{sum_ms} / $h->{count} + 0.5));
}

sub usd {
    my ($m) = @_;
    my $f = sprintf '%06d', abs($m) % 1e6;
    $f =~ s/0+$//;
    $f .= '0' while length $f < 2;
    return ($m < 0 ? '-$' : '$') . group(int(abs($m) / 1e6)) . ".$f";
}

sub pct { sprintf '%.1f%%', floor($_[0] * 1000 + 0.5) / 10 }

sub used { $_[1] > 0 ? $_[0] / $_[1] : 1 }


# a regexp of the strings given, one after the other

sub re {
    my $re = join '', @_;
    return qr/$re/;
}


# $dom's table $id: [[cell text, ...], ...], header row first

sub table_of {
    my ($dom, $id) = @_;

    my ($table) = $dom =~ m{<table id="$id">(.*?)</table>}s or return [];
    my @rows;

    for my $tr ($table =~ m{<tr[^>]*>(.*?)</tr>}sg) {
        push @rows, [map { text($_) } $tr =~ m{<t[hd][^>]*>(.*?)</t[hd]>}sg];
    }

    return \@rows;
}

sub text {
    my ($html) = @_;

    $html =~ s/<[^>]*>//g;
    $html =~ s/&lt;/</g;
    $html =~ s/&gt;/>/g;
    $html =~ s/&quot;/"/g;
    $html =~ s/&#39;/'/g;
    $html =~ s/&nbsp;/ /g;
    $html =~ s/&amp;/&/g;

    return $html;
}


# chromium with @args, its standard output into $out; its exit code, or
# -1 if it had to be killed after a minute and a half

sub chromium {
    my ($out, @args) = @_;

    my $dir = $t->testdir;
    my $pid = fork;

    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {

        # the browser keeps the real time (scripts/test-dates.sh)

        delete @ENV{qw(LD_PRELOAD FAKETIME FAKETIME_NO_CACHE)};
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>>', "$dir/chromium.log";

        # --no-sandbox: root has no sandbox

        exec $chromium, '--headless', '--no-sandbox', '--disable-gpu',
             "--user-data-dir=$dir/chromium-profile", '--no-first-run',
             '--no-default-browser-check', '--disable-extensions',
             '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--hide-scrollbars', '--mute-audio', @args
            or POSIX::_exit(127);
    }

    my $deadline = time + 90;
    my $rc = -1;

    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $rc = $? >> 8;
            last;
        }

        if (time > $deadline) {
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            last;
        }

        sleep 0.05;
    }

    kill 'KILL', -$pid;           # its helpers, if any are left

    return $rc;
}


sub dom {
    my ($path, $budget) = @_;

    my $out = $t->testdir . '/dom.html';
    my $url = 'http://127.0.0.1:' . $t->port('main') . $path;

    my $rc = chromium($out, "--virtual-time-budget=$budget", '--dump-dom',
                      $url);

    is($rc, 0, "chromium --dump-dom $path: exit 0")
        or diag($t->read_file('chromium.log'));

    return decode('UTF-8', $t->read_file($out));
}


sub browser {
    my $port = $t->port('main');

    # the page as rendered, after refreshes at 5, 10 and 15 s (of the
    # browser's virtual time, which waits for each fetch)

    $t->log_mark('access.log');

    my $dom = dom('/status?limit=50', 17000);
    my $now = status_json('/status?limit=50');

    is_deeply($now, $json, 'the state did not change meanwhile');

    like($dom, qr{<h1 id="what">Budget zone tenants</h1>},
         'DOM: the zone');
    like($dom, qr{Period month: 2026-11-01 00:00 UTC to 2026-12-01 00:00 UTC},
         'DOM: the period, its start and end');

    my ($summary) = $dom =~ m{<p id="summary">(.*?)</p>}s;
    is(text($summary // ''),
       usd($json->{spent_micro_usd}) . ' spent'
       . usd($json->{limit_micro_usd}) . ' limit'
       . pct(used($json->{spent_micro_usd}, $json->{limit_micro_usd}))
       . ' used', 'DOM: the zone\'s spend against its limit');

    like($dom, qr{<b>\Q${\ usd($json->{baseline_micro_usd})}\E</b> baseline},
         'DOM: the zone\'s baseline');
    like($dom, qr{<b>\Q$json->{requests}\E</b> requests},
         'DOM: the zone\'s requests');

    my @want = (['tenant', 'spent', 'reserved', 'limit', 'used', 'requests',
                 'refused', 'capped']);

    for my $s (@{$json->{tenants}}) {
        my $l = $s->{limit_micro_usd};
        my $u = defined $l ? used($s->{spent_micro_usd}, $l) : undef;

        push @want, [$s->{label} || substr($s->{hash}, 0, 12),
                     usd($s->{spent_micro_usd}), usd($s->{reserved_micro_usd}),
                     defined $l ? usd($l) : 'none',
                     defined $l ? pct($u) : '',
                     group($s->{requests}), group($s->{refused}),
                     group($s->{capped})];
    }

    is_deeply(table_of($dom, 'tenants'), \@want,
              'DOM: every tenant, as the JSON has it')
        or diag(explain(table_of($dom, 'tenants')));

    my %sum;
    $sum{$_->{ladder}} += $_->{requests} for @{$json->{tiers}};

    @want = (['tier', 'requests', 'share of ladder', 'target', 'spend',
              'baseline', 'saved', 'fell back', 'escalated',
              'tokens in/out', 'ms 1st/end']);

    for my $s (@{$json->{tiers}}) {
        my $share = $sum{$s->{ladder}} ? $s->{requests} / $sum{$s->{ladder}}
                                       : 0;

        push @want, [$s->{name}, group($s->{requests}), pct($share),
                     defined $s->{target_share} ? pct($s->{target_share})
                                                : '-',
                     usd($s->{cost_micro_usd}), usd($s->{baseline_micro_usd}),
                     usd($s->{baseline_micro_usd} - $s->{cost_micro_usd}),
                     group($s->{fell_back}), group($s->{escalated}),
                     group($s->{input_tokens}) . ' / '
                     . group($s->{output_tokens}),
                     mean($s->{time_to_first_token}) . ' / '
                     . mean($s->{duration})];
    }

    is_deeply(table_of($dom, 'tiers'), \@want,
              'DOM: every tier, as the JSON has it')
        or diag(explain(table_of($dom, 'tiers')));

    like($dom, re('<td class="l"><span class="gauge"><span class="bar">',
                  '<span class="ok" style="width: 40(\.\d+)?%;">'),
         'DOM: alice\'s bar, 40% and green');
    like($dom, qr{class="near" style="width: 90(\.\d+)?%;"},
         'DOM: carol\'s, 90% and amber');
    like($dom, qr{class="over" style="width: 100%;"},
         'DOM: dave\'s, full and red');
    like($dom, re('class="share" style="width: [\d.]+%;"></span>',
                  '<span class="mark" style="left: 30%;">'),
         'DOM: mid\'s share, with its target\'s mark at 30%');

    unlike($dom, qr/<img|<!--|id="pwned"/i,
           'DOM: no element or comment from a label');
    like($dom, re('<td><span title="[0-9a-f]{32}">&lt;/script&gt;&lt;img ',
                  'src=x onerror=alert\(1\)&gt;</span></td>'),
         'DOM: the </script> label as text');

    like($dom, qr{<p id="note" class="warn" hidden="">}, 'DOM: no note');
    like($dom, re('<p id="updated" class="muted">Updated ',
                  '\d\d:\d\d:\d\d, every 5 s</p>'),
         'DOM: the time of the last update');

    my @refreshes = grep { /HeadlessChrome/ }
                    split /\n/, $t->log_since('access.log');

    like($refreshes[0] // '', qr{"GET /status\?limit=50 HTTP/1\.1" 200 },
         'the page asked for as a browser does');
    ok(scalar(grep { m{"GET /status\?limit=50&format=json HTTP/1\.1" 200 } }
              @refreshes) >= 2,
       'two refreshes from ?format=json, limit=50 kept')
        or diag(join "\n", @refreshes);

    # a refresh that fails, or gets no JSON: said, and the data kept

    my $tenants = table_of(dom('/status?limit=50', 100), 'tenants');

    $dom = dom('/broken?limit=50', 8000);

    like($dom, re('<p id="note" class="warn">Refresh failed \(HTTP 503\) ',
                  'at \d\d:\d\d:\d\d; shown: the data of ',
                  '\d\d:\d\d:\d\d</p>'),
         'DOM: a refresh answered 503, said');
    is_deeply(table_of($dom, 'tenants'), $tenants,
              'DOM: and the tenants kept');

    $dom = dom('/garbled?limit=50', 8000);

    like($dom, re('<p id="note" class="warn">Refresh failed \(\w[^)<]*\) ',
                  'at \d\d:\d\d:\d\d; shown: the data of '),
         'DOM: a refresh answered with no JSON, said');
    is_deeply(table_of($dom, 'tenants'), $tenants,
              'DOM: and the tenants kept');

    # a page of tenants, asked for with format=html: refreshed with
    # format=json in its place

    $t->log_mark('access.log');

    $dom = dom('/status?format=html&limit=2&offset=1', 6000);
    like($dom, qr{<h2>Tenants 2-3 of 6, by spend</h2>},
         'DOM: a page of tenants, said');
    is(scalar @{table_of($dom, 'tenants')}, 3, 'DOM: two tenants on it');
    like($t->log_since('access.log'),
         re('"GET /status\?format=json&limit=2&offset=1 HTTP/1\.1" 200 ',
            '.*HeadlessChrome'),
         'refreshed with format=json in the place of format=html');

    # the shares zone

    $dom = dom('/shares', 100);

    my $sh = status_json('/shares?format=json');

    like($dom, qr{<h1 id="what">Shares zone shares</h1>}, 'DOM: shares');
    like($dom, qr{\Q$sh->{samples}\E samples}, 'DOM: the samples');

    @want = (['tier', 'target', 'observed', 'max_score', 'configured']);

    for my $s (@{$sh->{tiers}}) {
        push @want, [$s->{name},
                     defined $s->{target_share} ? pct($s->{target_share})
                                                : '-',
                     pct($s->{observed_share}),
                     sprintf('%.3f', $s->{max_score}),
                     sprintf('%.3f', $s->{configured_max_score})];
    }

    is_deeply(table_of($dom, 'shares'), \@want,
              'DOM: every tier\'s target and observed share')
        or diag(explain(table_of($dom, 'shares')));

    # a zone with no tenant, and no limit

    $dom = dom('/none', 100);
    like($dom, qr{Period total: never resets}, 'DOM: a total period');
    like($dom, qr{<h2>Tenants none of 0, by spend</h2>}, 'DOM: no tenant');
    unlike($dom, qr{ limit</span>}, 'DOM: no zone limit');

    # the screenshot

    my $png = $t->testdir . '/status.png';

    my $rc = chromium('/dev/null', '--virtual-time-budget=100',
                      '--window-size=1000,700', "--screenshot=$png",
                      "http://127.0.0.1:$port/status?limit=50");
    is($rc, 0, 'chromium --screenshot: exit 0')
        or diag($t->read_file('chromium.log'));

    my $img = eval { TierRouter::PNG->read($t->read_file($png)) };

    ok($img, 'the screenshot is a PNG') or diag($@);

    return unless $img;

    is("$img->{width}x$img->{height}", '1000x700',
       'the screenshot: the window\'s size');

    my $c = $img->colours;
    my $all = $img->{width} * $img->{height};
    my ($top) = sort { $c->{$b} <=> $c->{$a} } keys %$c;

    ok(keys %$c > 20 && $c->{$top} < 0.95 * $all,
       sprintf('the screenshot is not blank: %d colours, the commonest '
               . '(#%s) %.1f%%', scalar keys %$c, $top,
               100 * $c->{$top} / $all));

    # bars of 100 x 10 pixels: alice's 40% full, carol's 90%, dave's all

    for my $bar ([ok => '2f9e44', 'alice (40%)', 350],
                 [near => 'f59f00', 'carol (90%)', 800],
                 [over => 'e03131', 'dave (over)', 900],
                 [share => '4263eb', 'the tiers\' shares', 200],
                 [background => 'dddddd', 'the bars\' background', 500])
    {
        my ($name, $rgb, $who, $min) = @$bar;

        ok(($c->{$rgb} // 0) >= $min,
           "the screenshot: #$rgb ($name) for $who, "
           . ($c->{$rgb} // 0) . " pixels");
    }

    # the bars' colours are the page's own

    for my $rgb (qw(2f9e44 f59f00 e03131 4263eb)) {
        like($template, qr/background:#$rgb/, "#$rgb is the page's CSS");
    }
}
