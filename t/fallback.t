#!/usr/bin/perl

# Fallback across tiers through nginx + the module + mock models: each
# failure the operator names moves the request to the next tier (up or
# down, within the request's cap and floor), the attempt bound holds, the
# client sees only the final answer (JSON or a stream), every attempt is
# charged, a budget that cannot cover the next tier stops the fallback,
# and the path shows in variables and a response header.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

use TierRouter::Test;

my $t = TierRouter::Test->new;
my $J = JSON::PP->new->utf8->canonical;

my $counts = $t->testdir . '/requests.log';

$t->mock($_, args => ['--count-file', $counts]) for qw(small mid frontier);

my $conf = <<'EOF';
worker_processes 1;

http {
    %%HTTP_DEFAULTS%%

    %%THREE_TIERS%%

    upstream dead_up { server 127.0.0.1:%%PORT_dead%%; }
    tier_router_tier dead model=dead-model upstream=dead_up;
    tier_router_price dead-model input=100 output=200;

    tier_router_budget_zone zone=tenants:1m period=total;

    map $http_x_cap $cap {
        default  $http_x_cap;
    }

    log_format fb 'F id=$http_x_id status=$status tier=$tier_router_tier '
                  'n=$tier_router_attempts path="$tier_router_attempt_log" '
                  'cost=$tier_router_cost in=$tier_router_input_tokens '
                  'out=$tier_router_output_tokens '
                  'spend=$tier_router_tenant_spend '
                  'us="$upstream_status"';

    access_log %%TESTDIR%%/fb.log fb;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Accept-Encoding "";
    proxy_read_timeout 1s;

    server {
        listen 127.0.0.1:%%PORT_main%%;
        listen 127.0.0.1:%%PORT_h2%% http2;

        tier_router on;
        tier_router_override_header X-Tier;
        tier_router_max_tier $cap;
        tier_router_budget zone=tenants key=$http_authorization
                           limit=$http_x_limit;

        location /fb/ {
            tier_router_fallback error timeout http_429 http_500 http_502
                                 http_503 http_504;
            tier_router_attempts 3;
            proxy_buffering off;
            proxy_pass http://$tier_router_upstream;
        }

        location /buffered/ {
            tier_router_fallback http_503;
            tier_router_attempts 3;
            proxy_buffering on;
            proxy_pass http://$tier_router_upstream;
        }

        location /disk/ {
            tier_router_fallback http_503;
            client_body_buffer_size 1k;
            proxy_pass http://$tier_router_upstream;
        }

        location /two/ {
            tier_router_fallback http_503 http_429;
            proxy_pass http://$tier_router_upstream;
        }

        location /down/ {
            tier_router_fallback error http_503;
            tier_router_fallback_direction down;
            tier_router_attempts 3;
            proxy_pass http://$tier_router_upstream;
        }

        location /only429/ {
            tier_router_fallback http_429;
            proxy_pass http://$tier_router_upstream;
        }

        location /off/ {
            proxy_pass http://$tier_router_upstream;
        }

        location = /status {
            tier_router off;
            tier_router_status tenants;
        }
    }
}
EOF

$t->write_config($conf);
$t->run;

sub call {
    my (%o) = @_;

    my $prefix = delete $o{path} // '/fb/';

    return $t->llm_call(prefix => $prefix, key => 'Bearer sk-fb-default',
                        log => ['fb.log', 'F'], counts => 'requests.log', %o);
}


sub fail_on { ('X-Mock-For' => join(',', @_)) }


# -- a confident first tier: one attempt, as without fallback --------------

my $r = call();

is($r->{status}, 200, 'no failure: 200');
is($r->{json}{model}, 'small-model', 'no failure: the small tier answered');
is($r->{tried}, 'small', 'no failure: one upstream request');
is($r->{headers}{'x-tier-router-path'}, undef,
    'no failure: no X-Tier-Router-Path');
is($r->{log}{n}, 1, 'no failure: $tier_router_attempts 1');
like($r->{log}{path}, qr/^small:200:0\.\d{6}$/,
    'no failure: $tier_router_attempt_log ' . ($r->{log}{path} // ''));
ok($r->{log}{cost} > 0, "no failure: charged ($r->{log}{cost})");

my $base = call(path => '/off/');
is($base->{log}{cost}, $r->{log}{cost},
    'no failure: the same cost as without fallback');

# -- each failure the operator named moves on --------------------------------

for my $st (429, 500, 502, 503, 504) {
    $r = call(headers => [fail_on('small'), 'X-Mock-Status' => $st]);

    is($r->{status}, 200, "$st from small: the client gets 200");
    is($r->{json}{model}, 'mid-model', "$st from small: mid answered, "
        . 'its model in the body');
    is($r->{tried}, 'small mid', "$st from small: small, then mid");
    is($r->{headers}{'x-tier-router-path'}, "small:$st mid",
        "$st from small: X-Tier-Router-Path");
    is($r->{headers}{'x-tier-router-tier'}, 'mid',
        "$st from small: X-Tier-Router-Tier is the final tier");
    unlike($r->{body}, qr/mock\)|error/i,
        "$st from small: nothing of the failure reaches the client");
    like($r->{log}{path}, qr/^small:$st:0\.000000 mid:200:0\.\d+$/,
        "$st from small: the attempt log " . ($r->{log}{path} // ''));
    is($r->{log}{tier}, 'mid', "$st from small: \$tier_router_tier mid");
    is($r->{log}{us}, "$st, 200",
        "$st from small: \$upstream_status has both attempts");
}

# a failure not named: passed on as it is

$r = call(headers => [fail_on('small'), 'X-Mock-Status' => 400]);
is($r->{status}, 400, '400 (not named): the client gets it');
is($r->{tried}, 'small', '400: no other tier');

$r = call(path => '/only429/',
          headers => [fail_on('small'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'only http_429 named: a 503 is the answer');
is($r->{tried}, 'small', 'only http_429 named: no other tier');
like($r->{body}, qr/overloaded/, 'only http_429: the upstream\'s own body');

# -- the attempt bound and the top tier -------------------------------------

$r = call(headers => [fail_on('small', 'mid'), 'X-Mock-Status' => 503]);
is($r->{status}, 200, 'small and mid fail, 3 attempts: 200');
is($r->{json}{model}, 'frontier-model', '... from frontier');
is($r->{tried}, 'small mid frontier', '... after small and mid');
is($r->{headers}{'x-tier-router-path'}, 'small:503 mid:503 frontier',
    '... X-Tier-Router-Path');
is($r->{log}{n}, 3, '... $tier_router_attempts 3');

$r = call(path => '/two/',
          headers => [fail_on('small', 'mid'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'attempts 2 (the default): the second failure is '
    . 'the answer');
is($r->{tried}, 'small mid', 'attempts 2: two upstream requests');
like($r->{body}, qr/overloaded/, 'attempts 2: mid\'s own error body');
is($r->{log}{n}, 2, 'attempts 2: $tier_router_attempts 2');

$r = call(headers => [fail_on('small', 'mid', 'frontier'),
                      'X-Mock-Status' => 503]);
is($r->{status}, 503, 'every tier fails: the last failure is the answer');
is($r->{tried}, 'small mid frontier', 'every tier fails: 3 attempts');

$r = call(tier => 'dead');
is($r->{status}, 502, 'the top tier cannot be reached (up): nothing above '
    . 'it, nginx\'s 502');
is($r->{tried}, '', 'the top tier cannot be reached: no mock was asked');

$r = call(tier => 'frontier', cap => 'frontier',
          headers => [fail_on('frontier'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'the highest tier allowed fails: no other');
is($r->{tried}, 'frontier', 'the highest tier allowed fails: one attempt');

# the operator's cap holds

$r = call(cap => 'mid',
          headers => [fail_on('small', 'mid'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'max_tier mid: no fallback past the cap');
is($r->{tried}, 'small mid', 'max_tier mid: small, mid, not frontier');

# down

$r = call(path => '/down/', tier => 'frontier',
          headers => [fail_on('frontier'), 'X-Mock-Status' => 503]);
is($r->{status}, 200, 'down: frontier fails, 200');
is($r->{json}{model}, 'mid-model', 'down: mid answered');
is($r->{tried}, 'frontier mid', 'down: frontier, then mid');

$r = call(path => '/down/', tier => 'dead');
is($r->{status}, 200, 'down, error: connection refused, then 200');
is($r->{json}{model}, 'frontier-model', 'down, error: frontier answered');
is($r->{headers}{'x-tier-router-path'}, 'dead:502 frontier',
    'down, error: the path shows nginx\'s 502');
like($r->{log}{path}, qr/^dead:502:0\.000000 frontier:200:/,
    'down, error: nothing charged for a request never sent');

$r = call(path => '/down/', tier => 'small',
          headers => [fail_on('small'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'down: nothing below small');

# -- timeouts and streams ----------------------------------------------------

$r = call(headers => [fail_on('small'), 'X-Mock-Latency-Ms' => 1500]);
is($r->{status}, 200, 'small times out (proxy_read_timeout 1s): 200');
is($r->{json}{model}, 'mid-model', 'timeout: mid answered');
is($r->{headers}{'x-tier-router-path'}, 'small:504 mid',
    'timeout: the path shows nginx\'s 504');

$r = call(stream => 1, headers => [fail_on('small'), 'X-Mock-Status' => 503]);
is($r->{status}, 200, 'stream: small fails, 200');
like($r->{headers}{'content-type'}, qr{text/event-stream},
    'stream: an event stream');
like($r->{body}, qr/"model":"mid-model"/, 'stream: from mid');
like($r->{body}, qr/data: \[DONE\]\s*$/, 'stream: whole, to [DONE]');
unlike($r->{body}, qr/"usage"/,
    'stream: the usage chunk the module asked for is not passed on');
ok($r->{log}{cost} > 0 && $r->{log}{out} > 0,
    "stream: mid's usage is charged ($r->{log}{cost}, out $r->{log}{out})");

$r = call(path => '/buffered/',
          headers => [fail_on('small'), 'X-Mock-Status' => 503,
                      'X-Mock-At-mid-Words' => 3000]);
is($r->{status}, 200, 'proxy_buffering on: 200');
is($r->{json}{model}, 'mid-model', 'proxy_buffering on: from mid');
is(scalar(split / /, $r->{json}{choices}[0]{message}{content} // ''), 3000,
    'proxy_buffering on: a long answer arrives whole');

# the next tier gets the client's own bytes, only the model changed

{
    my $body = qq({ "messages" : [ {"role":"user", "content":"caf\\u00e9 )
        . qq(\xc3\xa9 \\"quoted\\""} ],\n  "model":  "gpt-whatever" , )
        . qq("max_tokens": 50, "temperature": 0.25 });
    (my $want = $body) =~ s/"gpt-whatever"/"mid-model"/;

    my $rr = $t->http_post('/fb/chat/completions', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-fb-default',
        'X-Mock-For' => 'small', 'X-Mock-Status' => 503,
        'X-Mock-At-mid-Echo' => 1);
    is($rr->{headers}{'x-mock-name'}, 'mid', 'echo: mid answered');
    is($rr->{body}, $want,
       'echo: mid got the client\'s bytes with only the model changed');
    is($rr->{headers}{'x-mock-request-content-length'}, length($want),
       'echo: with its Content-Length');
}

# the same for a body that nginx wrote to a temporary file

{
    my $long = 'A long, long line of text. ' x 1000;
    my $body = $J->encode({ max_tokens => 50, model => 'gpt-whatever',
        messages => [{ role => 'user', content => $long }] });
    (my $want = $body) =~ s/"gpt-whatever"/"mid-model"/;

    my $rr = $t->http_post('/disk/chat/completions', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-fb-default',
        'X-Mock-For' => 'small', 'X-Mock-Status' => 503,
        'X-Mock-At-mid-Echo' => 1);
    is($rr->{headers}{'x-mock-name'}, 'mid', 'body on disk: mid answered');
    like($t->error_log, qr/buffered to a temporary file/,
         'body on disk: it was on disk');
    ok($rr->{body} eq $want, 'body on disk: mid got the client\'s '
       . length($body) . ' bytes with only the model changed');
}

# an Anthropic stream, and HTTP/2 clients (JSON and SSE)

{
    my $body = $J->encode({ model => 'x', max_tokens => 100,
        stream => JSON::PP::true,
        messages => [{ role => 'user', content => 'Hello there.' }] });
    my $rr = $t->http_post('/fb/messages', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-fb-default',
        'X-Mock-For' => 'small', 'X-Mock-Status' => 529);
    is($rr->{status}, 529, 'Anthropic 529 (not named): the client gets it');

    $rr = $t->http_post('/fb/messages', $body,
        'Content-Type' => 'application/json', 'X-Tier' => 'small',
        'Authorization' => 'Bearer sk-fb-default',
        'X-Mock-For' => 'small', 'X-Mock-Status' => 503);
    is($rr->{status}, 200, 'Anthropic stream: small 503, 200');
    like($rr->{body}, qr/event: message_stop/, 'Anthropic stream: whole');
    like($rr->{body}, qr/"model":"mid-model"/, 'Anthropic stream: from mid');
}

# -- an answer broken off after its header reaches the client broken ------

for my $dialect (qw(chat responses anthropic)) {
    for my $path ('/fb/', '/off/') {
        my $name = "$dialect stream broken off, " . ($path eq '/fb/'
                   ? 'fallback on' : 'fallback off');

        my $rr = call(path => $path, dialect => $dialect, stream => 1,
                      headers => ['X-Mock-Break-After' => 3]);

        is($rr->{status}, 200, "$name: 200 and its first events");
        ok($rr->{raw} !~ /\r\n0\r\n\r\n\z/ && !$rr->{timeout},
           "$name: no last chunk, the connection closed: the client sees "
           . "it broken");
    }

    # a fallback first, then the next tier's stream broken off

    my $rr = call(dialect => $dialect, stream => 1,
                  headers => [fail_on('small'), 'X-Mock-Status' => 503,
                              'X-Mock-At-mid-Break-After' => 3]);
    is($rr->{tried}, 'small mid', "$dialect: small 503, mid broken off");
    ok($rr->{raw} !~ /\r\n0\r\n\r\n\z/ && !$rr->{timeout},
       "$dialect: the broken answer of the second attempt is broken too");

    $rr = call(dialect => $dialect, stream => 1,
               headers => [fail_on('small'), 'X-Mock-Status' => 503]);
    like($rr->{raw}, qr/\r\n0\r\n\r\n\z/,
         "$dialect: a whole stream after a fallback ends with its last "
         . "chunk");
}

{
    my $rr = call(headers => ['X-Mock-Break-After' => 40]);
    ok($rr->{status} == 200 && !$rr->{timeout}
       && length($rr->{body}) < ($rr->{headers}{'content-length'} // 0),
       'JSON broken off, fallback on: short of its Content-Length, the '
       . 'connection closed (no wait for the rest)');
}

for my $break (1, 0) {
    my $rr = $t->http2('POST', '/fb/chat/completions', port => $t->port('h2'),
        headers => ['Authorization' => 'Bearer sk-fb-h2', 'X-Tier' => 'small',
                    'Content-Type' => 'application/json',
                    $break ? ('X-Mock-Break-After' => 3) : ()],
        body => $J->encode({ model => 'x', max_tokens => 100,
                             stream => JSON::PP::true,
                             messages => [{ role => 'user',
                                            content => 'Hello' }] }));

    if ($break) {
        ok($rr->{curl_exit} != 0, 'HTTP/2 stream broken off, fallback on: '
           . "the stream is reset, the client sees it broken (curl exit "
           . "$rr->{curl_exit})");
    } else {
        is($rr->{curl_exit}, 0, 'HTTP/2 stream whole, fallback on: ends '
           . 'cleanly');
    }
}

for my $stream (0, 1) {
    my $rr = $t->http2('POST', '/fb/chat/completions', port => $t->port('h2'),
        headers => ['Authorization' => 'Bearer sk-fb-h2', 'X-Tier' => 'small',
                    'Content-Type' => 'application/json',
                    'X-Mock-For' => 'small', 'X-Mock-Status' => 503],
        body => $J->encode({ model => 'x', max_tokens => 100,
            ($stream ? (stream => JSON::PP::true) : ()),
            messages => [{ role => 'user', content => 'Hello' }] }));

    my $what = $stream ? 'SSE' : 'JSON';
    is($rr->{status}, 200, "HTTP/2, $what: small 503, 200");
    like($rr->{body}, qr/"model":"mid-model"/, "HTTP/2, $what: from mid");
    like($rr->{body}, $stream ? qr/\[DONE\]/ : qr/\}\s*$/,
         "HTTP/2, $what: whole");
}

# -- money: every attempt is charged, the budget bounds the fallback --------

$r = call(key => 'Bearer sk-fb-money',
          headers => [fail_on('small'), 'X-Mock-Status' => 503]);
my ($c1, $c2) = $r->{log}{path} =~ /small:503:(\S+) mid:200:(\S+)/;
is($c1, '0.000000', 'money: a failure without usage costs nothing');
ok($c2 > 0, "money: mid's answer is charged ($c2)");
is($r->{log}{cost}, $c2, 'money: $tier_router_cost is the sum');
is($r->{log}{spend}, $c2, 'money: the tenant\'s spend has it');

# 100 tokens of output at mid cost 20 $/M: a worst case of about $0.0025;
# at small, 100 x 2 $/M + input: about $0.0003

$r = call(key => 'Bearer sk-fb-poor', limit => '0.001',
          headers => [fail_on('small'), 'X-Mock-Status' => 503]);
is($r->{status}, 503, 'budget: the tenant cannot afford mid, so small\'s '
    . '503 is the answer');
is($r->{tried}, 'small', 'budget: no request to mid');

my $st = TierRouter::Test::json_decode(
    $t->http_get('/status')->{body});
is($st->{reserved} // 0, 0, 'status: nothing left reserved');

my %fell = map { $_->{name} => $_->{fell_back} } @{$st->{tiers} || []};
ok(($fell{small} // 0) >= 10, "status: small fell back $fell{small} times");
is($fell{mid}, 2, 'status: mid fell back twice (of 3-attempt paths)');
is($fell{frontier}, 1, 'status: frontier fell back once (down)');
is($fell{dead}, 1, 'status: the unreachable tier fell back once (down)');

my $prom = $t->http_get('/status?format=prometheus')->{body};
like($prom, qr/^tier_router_tier_fell_back_total\{zone="tenants",
               tier="small",[^}]*\}\ \d+$/mx,
     'status: fell_back_total in Prometheus format');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in the error log');

done_testing;
